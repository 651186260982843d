"""Exceptions carry the library's codes and names."""

import pytest

import sipflow
from sipflow import errors


@pytest.mark.parametrize(
    "code, cls, name",
    [
        (-201, sipflow.InvalidArgumentError, "SIPFLOW_ERR_INVALID_ARGUMENT"),
        (-203, sipflow.MalformedError, "SIPFLOW_ERR_MALFORMED"),
        (-206, sipflow.NotFoundError, "SIPFLOW_ERR_NOT_FOUND"),
        (-209, sipflow.TamperedError, "SIPFLOW_ERR_TAMPERED"),
        (-210, sipflow.StaleError, "SIPFLOW_ERR_STALE"),
        (-212, sipflow.TimeBackwardsError, "SIPFLOW_ERR_TIME_BACKWARDS"),
        (-501, sipflow.NoMemoryError, "SIPFLOW_ERR_NOMEM"),
        (-502, sipflow.CallbackFailureError, "SIPFLOW_ERR_CALLBACK_FAILURE"),
    ],
)
def test_a_negative_code_raises_its_class_with_code_and_name(code, cls, name):
    with pytest.raises(cls) as info:
        errors.check(code, "doing something")
    exc = info.value
    assert isinstance(exc, sipflow.SipflowError)
    assert exc.code == code
    assert exc.name == name
    assert exc.message == sipflow.strerror(code)
    assert str(exc).startswith("doing something: ")
    assert name in str(exc)


def test_fatal_codes_are_marked_fatal():
    assert errors.error_for(-501).fatal
    assert not errors.error_for(-206).fatal


def test_subclasses_are_also_the_nearest_builtin_exception():
    assert isinstance(errors.error_for(-206), LookupError)
    assert isinstance(errors.error_for(-201), ValueError)
    assert isinstance(errors.error_for(-501), MemoryError)


def test_an_unknown_code_gives_the_base_class_and_the_unknown_name():
    exc = errors.error_for(-999)
    assert type(exc) is sipflow.SipflowError
    assert exc.name == "SIPFLOW_ERR_UNKNOWN"


def test_zero_and_positive_values_do_not_raise():
    assert errors.check(0) == 0
    assert errors.check(1) == 1
    assert sipflow.err_name(0) == "SIPFLOW_OK"
