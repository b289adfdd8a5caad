"""The shipped multi-turn models `speech-llm-tiny-abstract` and `speech-llm-tiny-fp-abstract`
(which reads Whisper's first pass of each turn too), end to end on real weights."""

from __future__ import annotations

import shutil

import pytest


@pytest.mark.integration
@pytest.mark.parametrize("name", ["speech-llm-tiny-abstract", "speech-llm-tiny-fp-abstract"])
def test_the_shipped_abstract_model_runs_a_conversation_by_name(tmp_path, name):
    """Three in-domain turns (booking dialogue, espeak-ng): each later turn reads every earlier
    one as K=4 latent tokens plus its transcript, and the session restores to the same output."""
    import jiwer

    from susurrus import ConversationSession
    from susurrus.data.tts import speak
    from susurrus.pretrained import EMBEDDED

    if not EMBEDDED[name].installed or shutil.which("espeak-ng") is None:
        pytest.skip(f"{name} or espeak-ng is not installed")
    texts = ["Can I have a name for the booking?", "Yes, the booking is for two people.",
             "Thank you, the booking is confirmed."]
    clips = [speak(t, tmp_path / f"t{i}.wav") for i, t in enumerate(texts)]
    session = ConversationSession(name)
    assert session.context == "abstract"
    results = [session.transcribe_turn(clips[0]), session.transcribe_turn(clips[1])]
    saved = session.save(tmp_path / "state")
    results.append(session.transcribe_turn(clips[2]))
    assert [r.prior_turns for r in results] == [0, 1, 2]
    assert [r.context_audio_tokens for r in results] == [0, 4, 8]  # K=4 per prior turn
    norm = jiwer.Compose([jiwer.ToLowerCase(), jiwer.RemovePunctuation(), jiwer.Strip()])
    wer = jiwer.wer([norm(t) for t in texts], [norm(r.text) for r in results])
    assert wer <= 0.3, [r.text for r in results]
    again = ConversationSession.restore(saved, session.model).transcribe_turn(clips[2])
    assert again.token_ids == results[2].token_ids
