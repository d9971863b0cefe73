"""The Qwak IrisClassifier, with only its import changed to Berth's."""

import pandas as pd
from berth import BerthModel
from sklearn import datasets, svm


class IrisClassifier(BerthModel):
    def __init__(self):
        self._gamma = "scale"

    def build(self):
        iris = datasets.load_iris()
        X, y = iris.data, iris.target

        clf = svm.SVC(gamma=self._gamma)
        self._model = clf.fit(X, y)

    def predict(self, df: pd.DataFrame) -> pd.DataFrame:
        return pd.DataFrame(data=self._model.predict(df), columns=["species"])
