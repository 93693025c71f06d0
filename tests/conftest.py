import pytest

from support import harness
from support.client_env import shared_server, upsd_kinds
from support.harness import NutEnv


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item):
    harness.current_test = item  # before its fixtures: they may start C NUT too


def pytest_runtest_teardown(item, nextitem):
    harness.current_test = None


@pytest.fixture
def nutenv(tmp_path):
    env = NutEnv(tmp_path)
    yield env
    env.close()


@pytest.fixture(scope="module", params=upsd_kinds())
def server(request, tmp_path_factory):
    """The client tests' upsd: C 2.8.0's, then ours, each serving the same drivers."""
    return shared_server(request.param, tmp_path_factory, request)
