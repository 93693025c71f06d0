import pytest

from support.client_env import shared_server, upsd_kinds
from support.harness import NutEnv


@pytest.fixture
def nutenv(tmp_path):
    env = NutEnv(tmp_path)
    yield env
    env.close()


@pytest.fixture(scope="module", params=upsd_kinds())
def server(request, tmp_path_factory):
    """The client tests' upsd: C 2.8.0's, then ours, each serving the same drivers."""
    return shared_server(request.param, tmp_path_factory, request)
