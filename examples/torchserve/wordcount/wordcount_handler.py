"""A TorchServe custom handler, unchanged: counts the words of each request in a batch."""

from ts.torch_handler.base_handler import BaseHandler


class WordCounter(BaseHandler):
    def initialize(self, context):
        self.context = context
        self.initialized = True

    def preprocess(self, data):
        texts = []
        for row in data:
            text = row.get("data") or row.get("body")
            if isinstance(text, (bytes, bytearray)):
                text = text.decode("utf-8")
            texts.append(str(text))
        return texts

    def inference(self, texts):
        counts = [len(text.split()) for text in texts]
        self.context.metrics.add_counter("words_counted", sum(counts))
        return counts

    def postprocess(self, counts):
        return [{"words": n} for n in counts]
