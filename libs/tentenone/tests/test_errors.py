from tentenone.errors import (
    InvalidTransition,
    RemoteError,
    TentenoneError,
    error_class_for_code,
)


def test_codes_are_unique_and_resolvable() -> None:
    seen: dict[str, type[TentenoneError]] = {}
    stack: list[type[TentenoneError]] = [TentenoneError]
    while stack:
        cls = stack.pop()
        stack.extend(cls.__subclasses__())
        assert cls.code not in seen or seen[cls.code] is cls, f"duplicate code {cls.code}"
        seen[cls.code] = cls
    for code, cls in seen.items():
        assert error_class_for_code(code) is cls


def test_to_dict_carries_details() -> None:
    err = InvalidTransition("cannot go from OPEN to OFFERED", state="OPEN")
    assert err.to_dict() == {
        "code": "invalid_transition",
        "message": "cannot go from OPEN to OFFERED",
        "details": {"state": "OPEN"},
    }
    assert isinstance(err, TentenoneError)


def test_remote_error_keeps_remote_code() -> None:
    err = RemoteError("order too large", remote_code="order_too_large")
    assert err.remote_code == "order_too_large"
    assert err.code == "remote_error"
    assert error_class_for_code("no_such_code") is None
