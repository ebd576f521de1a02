"""Unit tests for the payload parsing (run where pandas is installed: python -m pytest serve/)."""
import pytest

pd = pytest.importorskip("pandas")
app = pytest.importorskip("mlray_serve.app")


def test_seed_data_format():
    df = app.parse_payload({"data": [{"a": 1, "b": 2}]})
    assert list(df.columns) == ["a", "b"]


def test_exactly_one_key():
    with pytest.raises(ValueError):
        app.parse_payload({"data": [], "instances": []})
