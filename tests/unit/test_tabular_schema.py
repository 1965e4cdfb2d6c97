import numpy as np
import pytest

from medinfer.common.errors import ValidationFailed
from medinfer.preprocess.tabular import FeatureSpec, TabularSchema

SCHEMA = TabularSchema([FeatureSpec("age_years", 0, 120), FeatureSpec("sbp", 50, 260), FeatureSpec("hba1c", 3, 20)])


def test_record_object_and_list_normalize_in_schema_order() -> None:
    a = SCHEMA.normalize({"sbp": 120, "hba1c": 5.5, "age_years": 40})
    b = SCHEMA.normalize([40, 120, 5.5])
    assert a.dtype == np.float32 and a.shape == (1, 3)
    np.testing.assert_array_equal(a, b)


def test_batch_of_records() -> None:
    out = SCHEMA.normalize([[40, 120, 5.5], {"age_years": 50, "sbp": 130, "hba1c": 6.0}])
    assert out.shape == (2, 3)


@pytest.mark.parametrize(
    ("payload", "code", "field"),
    [
        ([40, 120], "wrong-feature-count", "input"),
        ({"sbp": 120, "hba1c": 5.5}, "missing-feature", "age_years"),
        ({"age_years": 40, "sbp": 120, "hba1c": 5.5, "ssn_123456789": 1}, "unknown-feature", "input"),
        ([40, "120", 5.5], "not-a-number", "sbp"),
        ([40, True, 5.5], "not-a-number", "sbp"),
        ([40, None, 5.5], "not-a-number", "sbp"),
        ([40, 1e39, 5.5], "not-finite", "sbp"),
        ([40, 999, 5.5], "out-of-range", "sbp"),
        ([[40, 120, 5.5], [40, 999, 5.5]], "out-of-range", "input[1].sbp"),
        ("forty", "validation-failed", "input"),
        ([[40, 120, 5.5]] * 300, "validation-failed", "input"),
    ],
)
def test_bad_records_name_the_field_and_never_the_value(payload, code, field) -> None:
    with pytest.raises(ValidationFailed) as info:
        SCHEMA.normalize(payload)
    err = info.value
    assert err.code == code
    assert err.extra.get("field") == field
    problem = str(err.to_problem())
    for leaked in ("999", "1e+39", "ssn_123456789", "forty"):
        assert leaked not in problem
