"""Catalogs and the model: the snapshot contract and its adapters, the refresh simulator, pair
sampling, the tokenizer, the training data, word vectors, the local Object2Vec trainer and its
numpy encoder, the training gate, the Embedding Projector export."""
