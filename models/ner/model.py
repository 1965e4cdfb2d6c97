"""Triton Python-backend model ``ner``: text in, named-entity spans out (spaCy ``en_core_web_sm``).

Copied as ``model.py`` into each version folder beside ``pipeline/`` (the spaCy
pipeline saved by ``build.py`` with only its ``ner`` component, which carries its
own tok2vec, so results equal the full pipeline's at twice the speed).
Triton's dynamic batcher hands ``execute`` several requests at once: all their
texts go through one ``nlp.pipe`` call and the results are split back per request.

Input ``TEXT`` BYTES [batch, 1] (UTF-8). Output ``ENTITIES`` BYTES [batch, 1]:
per text a UTF-8 JSON array of ``{"start", "end", "label"}`` with ``start``/``end``
as Python character (code point) offsets into the text, ``end`` exclusive, and
OntoNotes labels (PERSON, ORG, GPE, DATE...). The entity text is not repeated:
the caller has it, and this model sees clinical text. Errors name no input content.
"""

import json
import os

import numpy as np
import spacy
import triton_python_backend_utils as pb_utils


def _param(config, key, default):
    return config.get("parameters", {}).get(key, {}).get("string_value", default)


class TritonPythonModel:
    def initialize(self, args):
        self.config = json.loads(args["model_config"])
        version_dir = os.path.join(args["model_repository"], args["model_version"])
        self.nlp = spacy.load(os.path.join(version_dir, "pipeline"))
        self.pipe_batch = int(_param(self.config, "PIPE_BATCH_SIZE", "64"))
        self.input_name = self.config["input"][0]["name"]
        self.output_name = self.config["output"][0]["name"]

    def _entities(self, texts):
        out = []
        for doc in self.nlp.pipe(texts, batch_size=self.pipe_batch):
            spans = [{"start": e.start_char, "end": e.end_char, "label": e.label_} for e in doc.ents]
            out.append(json.dumps(spans, separators=(",", ":")).encode("utf-8"))
        return out

    def execute(self, requests):
        responses = [None] * len(requests)
        texts, owners = [], []
        for r, request in enumerate(requests):
            arr = pb_utils.get_input_tensor_by_name(request, self.input_name).as_numpy()
            try:
                decoded = [x.decode("utf-8") if isinstance(x, bytes) else str(x) for x in arr.reshape(-1)]
            except UnicodeDecodeError:
                err = pb_utils.TritonError("TEXT must be UTF-8", pb_utils.TritonError.INVALID_ARG)
                responses[r] = pb_utils.InferenceResponse(error=err)
                continue
            texts.extend(decoded)
            owners.append((r, arr.shape))
        if texts:
            try:
                results = self._entities(texts)
            except Exception as exc:  # noqa: BLE001 - reported per request, never crashes the stub
                err = pb_utils.TritonError(f"ner failed: {type(exc).__name__}")
                for r, _ in owners:
                    responses[r] = pb_utils.InferenceResponse(error=err)
                return responses
            start = 0
            for r, shape in owners:
                n = int(np.prod(shape))
                chunk = np.array(results[start : start + n], dtype=np.object_).reshape(shape)
                responses[r] = pb_utils.InferenceResponse(
                    output_tensors=[pb_utils.Tensor(self.output_name, chunk)]
                )
                start += n
        return responses
