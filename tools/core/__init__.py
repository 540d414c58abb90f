"""The bottom layer: the domain types (products, filters, query analyses, hits), the error classes and the model
interfaces (an embedder, a chat model that answers in JSON) that every other package builds on. It imports nothing
else of ours."""
