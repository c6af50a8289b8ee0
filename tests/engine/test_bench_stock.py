"""The bench's stock agent is stock: no component of ours in its pipeline."""

from tests.bench.stock import stock_pipeline


def test_stock_pipeline_has_only_rasa_components() -> None:
    names = [str(c["name"]) for c in stock_pipeline()]
    assert names and not [n for n in names if "." in n], names
    assert "WhitespaceTokenizer" in names and "LogisticRegressionClassifier" in names
