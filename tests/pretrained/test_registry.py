"""Names resolve to embedded weights, local folders or hub ids; unknown names fail helpfully."""

from __future__ import annotations

import pytest

from susurrus.pretrained import EMBEDDED, ModelNotFoundError, load_whisper, resolve


def test_unknown_name_lists_embedded_names():
    with pytest.raises(ModelNotFoundError) as err:
        load_whisper("no-such-org/no-such-model-xyz")  # HF_HUB_OFFLINE=1: fails without network
    for name in EMBEDDED:
        assert name in str(err.value)


def test_missing_local_folder_and_folder_without_config(tmp_path):
    with pytest.raises(ModelNotFoundError, match="no such folder"):
        resolve(str(tmp_path / "absent"))
    with pytest.raises(ModelNotFoundError, match="no config.json"):
        resolve(str(tmp_path))


def test_embedded_name_of_the_wrong_kind():
    with pytest.raises(ModelNotFoundError, match="not a whisper model"):
        resolve("smollm2-135m-instruct", kind="whisper")


def test_local_folder_loads_through_from_pretrained(tiny_whisper_dir):
    model, tok = load_whisper(str(tiny_whisper_dir))
    assert model.config.d_model == 64 and not model.training
    assert tok.convert_tokens_to_ids("<|startoftranscript|>") == 50257


def test_local_hf_folder_converts_to_ctranslate2_for_faster_whisper(tiny_whisper_dir,
                                                                      isolated_cache):
    from susurrus.pretrained import ct2_whisper_dir

    out = ct2_whisper_dir(str(tiny_whisper_dir))
    assert (isolated_cache / "models").exists() and out.startswith(str(isolated_cache))
    from faster_whisper import WhisperModel

    WhisperModel(out, device="cpu", compute_type="float32")  # loads: a usable CT2 folder


@pytest.mark.integration
def test_embedded_whisper_converts_into_an_empty_cache(isolated_cache):
    model, tok = load_whisper("whisper-tiny.en")
    assert sum(p.numel() for p in model.parameters()) == 37_760_256
    folders = list((isolated_cache / "models").iterdir())
    assert [f.name.startswith("whisper-tiny.en-") for f in folders if not
            f.name.startswith(".")] == [True]


def test_ct2_cache_of_a_local_folder_follows_its_weights(tiny_whisper_dir, isolated_cache,
                                                          tmp_path):
    """Retraining a local model in place must not reuse the stale CTranslate2 conversion."""
    import shutil

    import torch
    from transformers import WhisperForConditionalGeneration

    from susurrus.pretrained import ct2_whisper_dir

    local = tmp_path / "my-whisper"
    shutil.copytree(tiny_whisper_dir, local)
    first = ct2_whisper_dir(str(local))
    model = WhisperForConditionalGeneration.from_pretrained(local)
    with torch.no_grad():
        model.proj_out.weight.mul_(0.5)
    model.save_pretrained(local)
    assert ct2_whisper_dir(str(local)) != first


# ----------------------------------------------------------------------------- hub probe
@pytest.fixture
def hub_env(monkeypatch):
    """No offline flag, no proxy, a fresh probe; the test sets HF_ENDPOINT."""
    import os

    from susurrus.pretrained import hub_reachable

    for key in [k for k in os.environ if "proxy" in k.lower()]:
        monkeypatch.delenv(key)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)
    hub_reachable.cache_clear()
    yield monkeypatch
    hub_reachable.cache_clear()


def test_hub_probe_sees_a_listening_endpoint_and_a_closed_one(hub_env):
    import socket

    from susurrus.pretrained import hub_reachable

    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]
        hub_env.setenv("HF_ENDPOINT", f"http://127.0.0.1:{port}")
        assert hub_reachable()
    hub_reachable.cache_clear()
    assert not hub_reachable()  # the same port, closed now


def test_hub_probe_with_the_offline_flag_connects_to_nothing(hub_env):
    import socket

    from susurrus.pretrained import hub_reachable

    def connect(*a, **k):
        raise AssertionError("probed the network although HF_HUB_OFFLINE is set")

    hub_env.setattr(socket, "create_connection", connect)
    hub_env.setenv("HF_HUB_OFFLINE", "1")
    assert not hub_reachable()


def test_hub_probe_goes_through_the_proxy(hub_env):
    from susurrus.pretrained.registry import _hub_address

    hub_env.delenv("HF_ENDPOINT", raising=False)
    assert _hub_address() == ("huggingface.co", 443)
    hub_env.setenv("HTTPS_PROXY", "http://proxy.example:3128")
    assert _hub_address() == ("proxy.example", 3128)


def test_a_close_embedded_name_is_suggested():
    with pytest.raises(ModelNotFoundError, match="Did you mean whisper-tiny.en?"):
        load_whisper("whisper-tiny")  # HF_HUB_OFFLINE=1 (conftest): not in the local cache
