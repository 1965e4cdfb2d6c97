"""Triton Python-backend model ``note_embedding``: text in, L2-normalized MiniLM sentence embedding out.

Copied as ``model.py`` into each version folder beside ``model.onnx`` (the
encoder with mean pooling and normalization inside the graph) and
``tokenizer.json`` (the WordPiece tokenizer shipped with the weights).
Tokenization runs here with the Rust ``tokenizers`` library so clients send
plain text. Triton's dynamic batcher hands ``execute`` several requests at
once: all their texts are tokenized together, sorted by length, encoded in
chunks of similar length (each padded to its own longest text), and the rows
split back per request.

Input ``TEXT`` BYTES [batch, 1] (UTF-8); output ``EMBEDDING`` FP32 [batch, 384].
Errors name no input content: this model sees clinical text.
"""

import json
import os

import numpy as np
import onnxruntime as ort
import triton_python_backend_utils as pb_utils
from tokenizers import Tokenizer


def _param(config, key, default):
    return config.get("parameters", {}).get(key, {}).get("string_value", default)


class TritonPythonModel:
    def initialize(self, args):
        self.config = json.loads(args["model_config"])
        version_dir = os.path.join(args["model_repository"], args["model_version"])
        self.max_seq_length = int(_param(self.config, "MAX_SEQ_LENGTH", "256"))
        self.chunk = int(_param(self.config, "ENCODE_CHUNK", "32"))
        self.tokenizer = Tokenizer.from_file(os.path.join(version_dir, "tokenizer.json"))
        self.tokenizer.enable_truncation(max_length=self.max_seq_length)
        self.tokenizer.no_padding()
        self.pad_id = self.tokenizer.token_to_id("[PAD]")
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = int(_param(self.config, "ORT_INTRA_OP_THREADS", "1"))
        opts.inter_op_num_threads = 1
        self.session = ort.InferenceSession(
            os.path.join(version_dir, "model.onnx"), sess_options=opts, providers=["CPUExecutionProvider"]
        )
        self.input_name = self.config["input"][0]["name"]
        self.output_name = self.config["output"][0]["name"]
        self.dim = int(self.config["output"][0]["dims"][-1])

    def _chunks(self, lengths):
        """Indices sorted by length, cut so a chunk's longest text is at most twice its shortest
        (16 tokens at least): one long note no longer makes every short one cost 256 tokens."""
        order = sorted(range(len(lengths)), key=lengths.__getitem__)
        chunk = []
        for i in order:
            if chunk and (len(chunk) >= self.chunk or lengths[i] > 2 * max(lengths[chunk[0]], 16)):
                yield chunk
                chunk = []
            chunk.append(i)
        if chunk:
            yield chunk

    def _encode(self, texts):
        encodings = self.tokenizer.encode_batch(texts)
        lengths = [len(e.ids) for e in encodings]
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        for rows in self._chunks(lengths):
            width = max(lengths[r] for r in rows)
            ids = np.full((len(rows), width), self.pad_id, dtype=np.int64)
            mask = np.zeros((len(rows), width), dtype=np.int64)
            for j, r in enumerate(rows):
                ids[j, : lengths[r]] = encodings[r].ids
                mask[j, : lengths[r]] = 1
            out[rows] = self.session.run(None, {"input_ids": ids, "attention_mask": mask})[0]
        return out

    def execute(self, requests):
        responses = [None] * len(requests)
        texts, owners = [], []
        for r, request in enumerate(requests):
            arr = pb_utils.get_input_tensor_by_name(request, self.input_name).as_numpy().reshape(-1)
            try:
                decoded = [x.decode("utf-8") if isinstance(x, bytes) else str(x) for x in arr]
            except UnicodeDecodeError:
                err = pb_utils.TritonError("TEXT must be UTF-8", pb_utils.TritonError.INVALID_ARG)
                responses[r] = pb_utils.InferenceResponse(error=err)
                continue
            texts.extend(decoded)
            owners.append((r, len(decoded)))
        if texts:
            try:
                embeddings = self._encode(texts)
            except Exception as exc:  # noqa: BLE001 - reported per request, never crashes the stub
                err = pb_utils.TritonError(f"embedding failed: {type(exc).__name__}")
                for r, _ in owners:
                    responses[r] = pb_utils.InferenceResponse(error=err)
                return responses
            start = 0
            for r, n in owners:
                tensor = pb_utils.Tensor(
                    self.output_name, np.ascontiguousarray(embeddings[start : start + n])
                )
                responses[r] = pb_utils.InferenceResponse(output_tensors=[tensor])
                start += n
        return responses
