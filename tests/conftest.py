import pytest

from harness import NutEnv


@pytest.fixture
def nutenv(tmp_path):
    env = NutEnv(tmp_path)
    yield env
    env.close()
