"""How the client turns a manager's error answer into the error tree (a pure function)."""
from __future__ import annotations

import json

import pytest

from bot import errors
from bot.cloudify.errors import EXTRA_ERROR_CODES, error_from_response


def body(code: str | None, message: str = "boom") -> bytes:
    d: dict = {"message": message, "server_traceback": None}
    if code is not None:
        d["error_code"] = code
    return json.dumps(d).encode()


@pytest.mark.parametrize("code,cls", sorted(errors.ERROR_CODES.items()))
def test_each_known_error_code_maps_to_its_class(code, cls):
    err = error_from_response(400, body(code), "GET", "/x")
    assert type(err) is cls
    assert err.error_code == code


@pytest.mark.parametrize("code,cls", sorted(EXTRA_ERROR_CODES.items()))
def test_extra_error_codes_map_to_a_class_and_keep_the_managers_code(code, cls):
    err = error_from_response(400, body(code), "GET", "/x")
    assert type(err) is cls
    assert err.error_code == code


def test_error_code_wins_over_status():
    err = error_from_response(500, body("not_found_error"), "GET", "/snapshots/a")
    assert isinstance(err, errors.NotFound)
    assert err.status == 500


@pytest.mark.parametrize("status,cls", [(400, errors.BadParameters), (401, errors.Unauthorized),
                                        (403, errors.Forbidden), (404, errors.NotFound),
                                        (409, errors.Conflict), (500, errors.ServerError),
                                        (503, errors.ManagerUnavailable)])
def test_unknown_error_code_falls_back_to_the_status(status, cls):
    err = error_from_response(status, body("some_new_error"), "GET", "/x")
    assert type(err) is cls
    assert err.error_code == "some_new_error"


@pytest.mark.parametrize("status", [502, 503, 504])
def test_gateway_errors_without_a_cloudify_body_mean_unavailable(status):
    err = error_from_response(status, b"<html>Bad Gateway</html>", "GET", "/status")
    assert isinstance(err, errors.ManagerUnavailable)


def test_503_with_a_cloudify_code_is_not_unavailable():
    err = error_from_response(503, body("maintenance_mode_active"), "GET", "/executions")
    assert isinstance(err, errors.MaintenanceActive)


def test_error_text_names_method_path_and_the_managers_message():
    err = error_from_response(404, body("not_found_error", "Requested `Snapshot` with ID `s1` was not found"),
                              "GET", "/snapshots/s1")
    assert "GET /snapshots/s1" in str(err)
    assert "was not found" in str(err)
    assert err.manager_message.startswith("Requested")
