"""A small stand-in for an MLflow pyfunc model: the iris rule a catboost model learns, counting its calls."""
import numpy as np

PETAL_LENGTH = "petal length (cm)"


class IrisStandIn:
    def __init__(self):
        self.calls = []  # rows per predict call, and the params it got

    def predict(self, model_input, params=None):
        self.calls.append((len(model_input), params))
        if params and params.get("fail"):
            raise ValueError("asked to fail")
        lengths = np.asarray(model_input[PETAL_LENGTH], dtype=float)
        classes = np.where(lengths < 2.5, 0, np.where(lengths < 4.8, 1, 2))
        if params and "offset" in params:
            classes = classes + params["offset"]
        # CatBoost's multiclass predict returns an (n, 1) array; MLflow answers it as [[2], [1], ...].
        return classes.reshape(-1, 1)


def record(petal_length, **extra):
    row = {"sepal length (cm)": 6.0, "sepal width (cm)": 3.0, PETAL_LENGTH: petal_length, "petal width (cm)": 1.5}
    row.update(extra)
    return row
