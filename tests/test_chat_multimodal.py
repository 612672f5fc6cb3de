"""Images through libmtmd, end to end, on SmolLM2 with a tiny random-weight projector.

No real vision model can be had offline, so ``mmproj_fixture`` writes a valid
llava-style ("mlp") projector whose output width is SmolLM2's: every step of
the real pipeline runs (projector load, image decode, mtmd tokenize, image
encode, embeddings decoded into the KV cache, sampling after them), but what
the model says about an image means nothing. The tests therefore assert the
mechanics: token accounting, reuse, determinism, isolation from text
requests, and the errors.

llama.cpp's CPU kernels round differently for different batch shapes, and a
random projector leaves the model with near-ties, so greedy text is compared
only between runs that evaluated the same positions in the same batches.
"""

from __future__ import annotations

import base64
import json
import logging
import os
from pathlib import Path
from typing import Any, Dict, Iterator, List

import pytest
from mmproj_fixture import tiny_png, write_tiny_mmproj

import llama_cpp.llama_chat_format as lcf
from conftest import run_python
from llama_cpp import Llama

RED = tiny_png(40, 30, (200, 30, 30))
BLUE = tiny_png(32, 32, (20, 40, 220))
N_IMAGE = 16  # the fixture's projector: a 32x32 image in 8x8 patches


def data_url(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode()


def ask(text: str, *images: bytes) -> List[Dict[str, Any]]:
    parts: List[Dict[str, Any]] = [{"type": "image_url", "image_url": {"url": data_url(i)}} for i in images]
    return [{"role": "user", "content": [*parts, {"type": "text", "text": text}]}]


@pytest.fixture(scope="module")
def projector(tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("mmproj") / "tiny-mmproj.gguf"
    info = write_tiny_mmproj(path)
    assert info["n_image_tokens"] == N_IMAGE
    return str(path)


@pytest.fixture(scope="module")
def vlm(model_path: str, projector: str) -> Iterator[Llama]:
    llm = Llama(model_path=model_path, n_ctx=1024, chat_handler=lcf.MTMDChatHandler(projector, verbose=False),
                verbose=False)
    yield llm
    llm.close()


def fresh(model_path: str, projector: str, handler: type = lcf.MTMDChatHandler, **kw: Any) -> Llama:
    return Llama(model_path=model_path, n_ctx=kw.pop("n_ctx", 1024), chat_handler=handler(projector, verbose=False),
                 verbose=False, **kw)


def encodes(caplog: pytest.LogCaptureFixture) -> int:
    """How many image slices libmtmd encoded (its log, routed into logging)."""
    return sum("encoding image slice" in r.getMessage() for r in caplog.records)


def text_prompt_tokens(llm: Llama, messages: List[Dict[str, Any]]) -> int:
    """Tokens of the conversation's text: the pieces between images, each tokenized on its own (as libmtmd does)."""
    prompt, _ = llm.chat_handler.render_prompt(messages, llm)  # type: ignore[union-attr]
    pieces = prompt.split(lcf.MEDIA_MARKER)
    return sum(len(llm.tokenize(p.encode(), add_bos=False, special=True)) for p in pieces if p)


# ------------------------------------------------------------------ the pipeline
def test_image_chat_counts_image_positions_and_generates(vlm: Llama) -> None:
    messages = ask("What is in this image?", RED)
    out = vlm.create_chat_completion(messages, max_tokens=8, temperature=0)
    message = out["choices"][0]["message"]
    assert message["role"] == "assistant" and message["content"]
    assert out["usage"]["completion_tokens"] <= 8
    assert out["usage"]["prompt_tokens"] == text_prompt_tokens(vlm, messages) + N_IMAGE
    two = ask("Same colour?", RED, BLUE)
    out2 = vlm.create_chat_completion(two, max_tokens=4, temperature=0)
    assert out2["usage"]["prompt_tokens"] == text_prompt_tokens(vlm, two) + 2 * N_IMAGE


def test_stream_equals_non_stream_with_an_image(vlm: Llama) -> None:
    messages = ask("Describe it.", BLUE)
    vlm.create_chat_completion(messages, max_tokens=10, temperature=0)  # both calls below then reuse it alike
    whole = vlm.create_chat_completion(messages, max_tokens=10, temperature=0)
    chunks = list(vlm.create_chat_completion(messages, max_tokens=10, temperature=0, stream=True))
    assert chunks[0]["choices"][0]["delta"].get("role") == "assistant"
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks)
    assert text == whole["choices"][0]["message"]["content"]
    assert chunks[-1]["choices"][0]["finish_reason"] == whole["choices"][0]["finish_reason"]


def test_same_image_is_reused_and_a_new_one_is_encoded(vlm: Llama, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="llama-cpp-python")
    messages = ask("Name the colour.", RED)
    vlm.create_chat_completion(messages, max_tokens=6, temperature=0)
    before = encodes(caplog)
    assert before == 1
    first = vlm.create_chat_completion(messages, max_tokens=6, temperature=0)
    again = vlm.create_chat_completion(messages, max_tokens=6, temperature=0)
    assert encodes(caplog) == before  # the image's positions were kept in the KV cache
    assert again["choices"][0]["message"] == first["choices"][0]["message"]
    vlm.create_chat_completion(ask("Name the colour.", BLUE), max_tokens=6, temperature=0)
    assert encodes(caplog) == before + 1  # same text, other image: encoded, never mistaken for the red one


def test_reuse_gives_what_a_fresh_context_gives(model_path: str, projector: str) -> None:
    messages = ask("What do you see?", RED)
    with fresh(model_path, projector) as llm:
        # another image in the same place first: only the text before it may be kept, then RED is encoded
        llm.create_chat_completion(ask("What do you see?", BLUE), max_tokens=4, temperature=0)
        reused = llm.create_chat_completion(messages, max_tokens=12, temperature=0)
    with fresh(model_path, projector) as other:
        clean = other.create_chat_completion(messages, max_tokens=12, temperature=0)
    assert reused["choices"][0]["message"] == clean["choices"][0]["message"]


def test_text_after_images_is_not_confused_with_them(model_path: str, projector: str) -> None:
    question = [{"role": "user", "content": "What is the capital of France?"}]
    with fresh(model_path, projector) as llm:
        llm.create_chat_completion(ask("What is this?", RED), max_tokens=4, temperature=0)
        ids = llm.input_ids[: llm.n_tokens].tolist()
        first_image = next(i for i, t in enumerate(ids) if t < 0)  # image positions are marked, never a token id
        after = llm.create_chat_completion(question, max_tokens=12, temperature=0)
        assert min(llm.input_ids[: llm.n_tokens]) >= 0  # the image's positions were dropped, not reused
    with Llama(model_path=model_path, n_ctx=1024, verbose=False) as plain:
        plain.eval(ids[:first_image])  # the same text before the image, evaluated in the same batches
        alone = plain.create_chat_completion(question, max_tokens=12, temperature=0)
    assert after["choices"][0]["message"] == alone["choices"][0]["message"]


def test_json_response_format_with_an_image(vlm: Llama) -> None:
    schema = {"type": "object", "properties": {"colour": {"type": "string", "maxLength": 12}}, "required": ["colour"]}
    out = vlm.create_chat_completion(
        ask("Reply in JSON with the colour.", RED), max_tokens=40, temperature=0,
        response_format={"type": "json_object", "schema": schema},
    )
    value = json.loads(out["choices"][0]["message"]["content"])
    assert isinstance(value, dict) and isinstance(value["colour"], str)


def test_llava15_handler_runs_images_through_its_own_template(model_path: str, projector: str) -> None:
    with fresh(model_path, projector, lcf.Llava15ChatHandler) as llm:
        messages = ask("What is this?", RED)
        out = llm.create_chat_completion(messages, max_tokens=4, temperature=0)
        prompt, _ = llm.chat_handler.render_prompt(messages)  # type: ignore[union-attr]
        assert prompt.startswith(lcf.Llava15ChatHandler.DEFAULT_SYSTEM_MESSAGE)
        bos = 1 if llm._model.add_bos_token() else 0  # type: ignore[union-attr]
        assert out["usage"]["prompt_tokens"] == text_prompt_tokens(llm, messages) + N_IMAGE + bos


def test_images_from_a_file_path_and_a_file_url(vlm: Llama, tmp_path: Path) -> None:
    path = tmp_path / "red.png"
    path.write_bytes(RED)
    by_data = vlm.create_chat_completion(ask("Colour?", RED), max_tokens=5, temperature=0)
    for url in (str(path), "file://" + os.fspath(path)):
        messages = [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": url}},
                                                 {"type": "text", "text": "Colour?"}]}]
        out = vlm.create_chat_completion(messages, max_tokens=5, temperature=0)
        assert out["choices"][0]["message"] == by_data["choices"][0]["message"]


def test_projector_is_freed_with_the_llama(model_path: str, projector: str) -> None:
    handler = lcf.MTMDChatHandler(projector, verbose=False)
    llm = Llama(model_path=model_path, n_ctx=256, chat_handler=handler, verbose=False)
    llm.create_chat_completion(ask("?", RED), max_tokens=1)
    (ctx,) = handler._contexts.values()
    assert ctx.ctx
    llm.close()
    assert not ctx.ctx
    # the same handler then serves another Llama with a projector loaded for that one
    with Llama(model_path=model_path, n_ctx=256, chat_handler=handler, verbose=False) as again:
        assert again.create_chat_completion(ask("?", RED), max_tokens=1)["usage"]["prompt_tokens"] > N_IMAGE
        handler.close()  # frees it now; the next image loads it again
        assert again.create_chat_completion(ask("?", RED), max_tokens=1)["usage"]["prompt_tokens"] > N_IMAGE


def test_one_handler_shared_by_two_llamas_in_threads(model_path: str, projector: str) -> None:
    import threading

    handler = lcf.MTMDChatHandler(projector, verbose=False)
    a = Llama(model_path=model_path, n_ctx=512, chat_handler=handler, verbose=False)
    b = Llama(model_path=model_path, n_ctx=512, chat_handler=handler, verbose=False)
    results: Dict[str, List[str]] = {"a": [], "b": []}
    errors: List[BaseException] = []

    def work(name: str, llm: Llama) -> None:
        try:
            for png in (RED, BLUE, RED):
                out = llm.create_chat_completion(ask("Colour?", png), max_tokens=3, temperature=0)
                results[name].append(out["choices"][0]["finish_reason"])
        except BaseException as e:  # reported below
            errors.append(e)

    threads = [threading.Thread(target=work, args=(n, llm)) for n, llm in (("a", a), ("b", b), ("a", a))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    assert len(results["a"]) == 6 and len(results["b"]) == 3
    assert len(handler._contexts) == 2  # one projector per Llama, neither freed under the other
    a.close()
    b.close()


def test_state_and_logits_all_with_images(model_path: str, projector: str) -> None:
    with fresh(model_path, projector) as llm:
        llm.create_chat_completion(ask("Hi", BLUE), max_tokens=2, temperature=0)
        state = llm.save_state()
        llm.create_chat_completion(ask("What is this?", RED), max_tokens=2, temperature=0)
        expected = llm.create_chat_completion(ask("What is this?", RED), max_tokens=8, temperature=0)
        llm.load_state(state)  # its saved logits belong to the BLUE prompt, not to the next one
        after = llm.create_chat_completion(ask("What is this?", RED), max_tokens=8, temperature=0)
        assert after["choices"][0]["message"] == expected["choices"][0]["message"]
        with pytest.raises(ValueError, match="negative ids in input_ids mark image positions"):
            llm.detokenize(llm.input_ids[: llm.n_tokens].tolist())
    with fresh(model_path, projector, logits_all=True) as llm:
        out = llm.create_chat_completion(ask("What is this?", RED), max_tokens=4, temperature=0, logprobs=True,
                                         top_logprobs=2)
        assert len(out["choices"][0]["logprobs"]["content"]) == out["usage"]["completion_tokens"]


def test_qwen_handler_leaves_the_image_wrappers_to_libmtmd(projector: str) -> None:
    handler = lcf.Qwen25VLChatHandler(projector, verbose=False)
    prompt, _ = handler.render_prompt(ask("Describe", RED))
    assert f"<|vision_start|>{lcf.MEDIA_MARKER}<|vision_end|>" in prompt  # what the template writes
    sent = handler._media_text(prompt)  # what libmtmd gets: it adds the wrappers for Qwen-VL projectors
    assert "<|vision_start|>" not in sent and sent.count(lcf.MEDIA_MARKER) == 1


def test_vision_handler_pickles(projector: str) -> None:
    import pickle

    handler = lcf.MTMDChatHandler(projector, verbose=False, use_gpu=False)
    copy = pickle.loads(pickle.dumps(handler))
    assert copy.clip_model_path == projector and copy.use_gpu is False and len(copy._contexts) == 0


def test_mtmd_low_level_module() -> None:
    from llama_cpp import mtmd_cpp

    assert mtmd_cpp.mtmd_default_marker() == lcf.MEDIA_MARKER.encode()
    params = mtmd_cpp.mtmd_context_params_default()
    assert params.n_threads > 0 and hasattr(params, "use_gpu")
    assert "mtmd_tokenize" in mtmd_cpp.__all__ and "mtmd_helper_eval_chunks" in dir(mtmd_cpp)


# ------------------------------------------------------------------ errors
def test_bad_images_are_named(vlm: Llama, tmp_path: Path, model_path: str, projector: str) -> None:
    not_image = [{"role": "user", "content": [
        {"type": "image_url", "image_url": {"url": data_url(b"this is not a picture")}}, {"type": "text", "text": "?"}]}]
    with pytest.raises(ValueError, match="image 1 .* could not be decoded"):
        vlm.create_chat_completion(not_image)
    with pytest.raises(ValueError, match="not valid base64"):
        vlm.create_chat_completion([{"role": "user", "content": [
            {"type": "image_url", "image_url": {"url": "data:image/png;base64,@@@"}}]}])
    missing = str(tmp_path / "nowhere.png")
    with pytest.raises(ValueError, match="could not read image"):
        vlm.create_chat_completion([{"role": "user", "content": [{"type": "image_url", "image_url": {"url": missing}}]}])
    # a marker typed by the user is not an image
    with pytest.raises(ValueError, match="2 media markers .* but 1 images"):
        vlm.create_chat_completion(ask(f"look: {lcf.MEDIA_MARKER}", RED))
    # nothing after the image to predict from (LLaVA's format without its assistant cue)
    with fresh(model_path, projector, lcf.Llava15ChatHandler) as llava:
        with pytest.raises(ValueError, match="ends with an image"):
            llava.create_chat_completion([{"role": "user", "content": [{"type": "image_url", "image_url": {
                "url": data_url(RED)}}]}], add_generation_prompt=False)
    # images belong in user turns
    history = [*ask("What is this?", RED), {"role": "assistant", "content": [
        {"type": "image_url", "image_url": {"url": data_url(BLUE)}}, {"type": "text", "text": "A red square."}]},
        {"role": "user", "content": "Sure?"}]
    with pytest.raises(ValueError, match=r"messages\[1\].content\[0\] is an image, which only user messages"):
        vlm.create_chat_completion(history, max_tokens=2)
    # and the Llama still works
    assert vlm.create_chat_completion(ask("?", RED), max_tokens=2)["usage"]["completion_tokens"] >= 1


def test_image_prompt_longer_than_the_context(model_path: str, projector: str) -> None:
    with fresh(model_path, projector, n_ctx=256) as llm:
        assert llm.n_ctx() == 256
        with pytest.raises(ValueError, match=r"Prompt exceeds n_ctx: \d+ > 256"):
            llm.create_chat_completion(ask("Compare these.", *[RED, BLUE] * 8))  # 16 images, 256 positions
        assert llm.create_chat_completion(ask("Hi", RED), max_tokens=2)["usage"]["prompt_tokens"] < 256


def test_bad_projectors_raise(model_path: str, tmp_path: Path) -> None:
    wrong_width = tmp_path / "narrow.gguf"
    write_tiny_mmproj(wrong_width, n_embd_text=64)
    truncated = tmp_path / "truncated.gguf"
    whole = tmp_path / "whole.gguf"
    write_tiny_mmproj(whole)
    truncated.write_bytes(whole.read_bytes()[:5000])
    not_gguf = tmp_path / "noise.gguf"
    not_gguf.write_bytes(os.urandom(4096))
    cases = {str(wrong_width): "mismatch between text model", str(truncated): "Failed to load the multimodal projector",
             str(not_gguf): "not a GGUF file", model_path: "Failed to load the multimodal projector"}
    with Llama(model_path=model_path, n_ctx=256, verbose=False) as llm:
        for path, message in cases.items():
            llm.chat_handler = lcf.MTMDChatHandler(path, verbose=False)
            with pytest.raises(ValueError, match=message):
                llm.create_chat_completion(ask("?", RED))
        llm.chat_handler = None
        assert llm.create_completion("Hi", max_tokens=2)["usage"]["completion_tokens"] >= 1


def test_missing_libmtmd_is_a_clear_import_error(tmp_path: Path, projector: str, model_path: str) -> None:
    import llama_cpp_core

    lib = tmp_path / "lib"
    lib.mkdir()
    for f in llama_cpp_core.lib_dir().iterdir():
        if "mtmd" not in f.name:
            (lib / f.name).symlink_to(f)
    code = f"""
        import base64, sys
        sys.path.insert(0, {str(Path(__file__).parent)!r})
        from mmproj_fixture import tiny_png
        import llama_cpp.llama_chat_format as lcf
        from llama_cpp import Llama
        llm = Llama(model_path={model_path!r}, n_ctx=256, verbose=False,
                    chat_handler=lcf.MTMDChatHandler({projector!r}, verbose=False))
        url = "data:image/png;base64," + base64.b64encode(tiny_png(8, 8)).decode()
        try:
            llm.create_chat_completion([{{"role": "user", "content": [{{"type": "image_url", "image_url": {{"url": url}}}}]}}])
        except lcf.MultimodalUnavailableError as e:
            print("refused:", e)
        print(llm.create_chat_completion([{{"role": "user", "content": "Hi"}}], max_tokens=2)["object"])
    """
    proc = run_python(code, env={"LLAMA_CPP_LIB_PATH": str(lib)})
    assert proc.returncode == 0, proc.stderr
    assert "refused:" in proc.stdout and "libmtmd" in proc.stdout and "libmtmd.so is not in" in proc.stdout
    assert proc.stdout.strip().endswith("chat.completion")
