"""A Starwhale predict function, written as Starwhale's documentation writes them."""

from starwhale import evaluation

POSITIVE = {"good", "great", "fun"}
NEGATIVE = {"bad", "dull", "boring"}


@evaluation.predict(batch_size=2, log_mode="plain")
def predict_sentiment(data, external):
    results = []
    for row in data:
        words = row.text.lower().split()
        score = sum(w in POSITIVE for w in words) - sum(w in NEGATIVE for w in words)
        results.append({"label": "positive" if score >= 0 else "negative", "score": score})
    return results


@evaluation.evaluate(needs=[predict_sentiment])
def evaluate_sentiment(predict_result_iter):
    print(sum(1 for _ in predict_result_iter), "rows")
