"""Integration tests of the Triton text models (note_embedding, ner)."""
