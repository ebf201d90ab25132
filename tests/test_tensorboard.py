"""The TensorBoard reader, on event files written by TensorBoard's own writer API."""
from __future__ import annotations

import json
import struct
from itertools import zip_longest
from pathlib import Path

import numpy as np
import pytest
from tensorboard.compat.proto.event_pb2 import Event
from tensorboard.compat.proto.histogram_pb2 import HistogramProto
from tensorboard.compat.proto.summary_pb2 import DATA_CLASS_SCALAR, Summary, SummaryMetadata
from tensorboard.compat.proto.tensor_pb2 import TensorProto
from tensorboard.compat.proto.tensor_shape_pb2 import TensorShapeProto
from tensorboard.compat.proto.types_pb2 import DT_DOUBLE, DT_FLOAT, DT_HALF, DT_STRING
from tensorboard.plugins.hparams import plugin_data_pb2
from tensorboard.summary.writer.event_file_writer import EventFileWriter
from tensorboard.summary.writer.record_writer import RecordWriter

from kto_doctor.sources import SourceError, detect
from kto_doctor.sources import tensorboard as tb
from kto_doctor.sources import read as read_any
from kto_doctor.sources.tensorboard import merge, read, read_many

KTO_TAGS = ["train/loss", "train/kl", "train/rewards/chosen", "train/rewards/rejected", "train/grad_norm"]


# -- writing event files with TensorBoard's writer ----------------------------------------------------
def write_events(folder: Path, events: list[Event]) -> Path:
    """Events through EventFileWriter (which adds its file_version event first), as torch's writer does."""
    folder.mkdir(parents=True, exist_ok=True)
    writer = EventFileWriter(str(folder), max_queue_size=len(events) + 1)
    for event in events:
        writer.add_event(event)
    writer.close()
    (path,) = folder.glob("events.out.tfevents.*")
    return path


def write_records(path: Path, events: list[Event]) -> Path:
    """Events through TensorBoard's RecordWriter (no thread, no file_version event): for many tiny files."""
    with open(path, "wb") as f:
        writer = RecordWriter(f)
        for event in events:
            writer.write(event.SerializeToString())
    return path


def simple(tag: str, step: int, value: float, wall: float = 1.7e9) -> Event:
    return Event(wall_time=wall, step=step, summary=Summary(value=[Summary.Value(tag=tag, simple_value=value)]))


def tensor_scalar(tag: str, step: int, tensor: TensorProto, first: bool) -> Event:
    """TF2 / tensorboard.summary v2 style: the scalars plugin metadata only with the tag's first value."""
    value = Summary.Value(tag=tag, tensor=tensor)
    if first:
        value.metadata.CopyFrom(SummaryMetadata(plugin_data=SummaryMetadata.PluginData(plugin_name="scalars"),
                                                data_class=DATA_CLASS_SCALAR))
    return Event(wall_time=1.7e9 + step, step=step, summary=Summary(value=[value]))


def text(tag: str, content: str) -> Event:
    """What torch's `add_text` (used by HF's TensorBoardCallback) writes."""
    tensor = TensorProto(dtype=DT_STRING, string_val=[content.encode()],
                         tensor_shape=TensorShapeProto(dim=[TensorShapeProto.Dim(size=1)]))
    meta = SummaryMetadata(plugin_data=SummaryMetadata.PluginData(plugin_name="text"))
    return Event(wall_time=1.7e9, summary=Summary(value=[Summary.Value(tag=tag, metadata=meta, tensor=tensor)]))


def hparams(values: dict) -> Event:
    """What torch's `add_hparams` writes as session start info."""
    info = plugin_data_pb2.SessionStartInfo()
    for key, value in values.items():
        if isinstance(value, bool):
            info.hparams[key].bool_value = value
        elif isinstance(value, (int, float)):
            info.hparams[key].number_value = value
        else:
            info.hparams[key].string_value = value
    content = plugin_data_pb2.HParamsPluginData(session_start_info=info, version=0).SerializeToString()
    meta = SummaryMetadata(plugin_data=SummaryMetadata.PluginData(plugin_name="hparams", content=content))
    return Event(wall_time=1.7e9, summary=Summary(value=[Summary.Value(tag="_hparams_/session_start_info",
                                                                       metadata=meta)]))


def kto_run(steps: int, seed: int = 0) -> tuple[list[Event], dict[str, np.ndarray]]:
    """Simple-value events for KTO_TAGS at steps 1..steps, and the float32 values written per tag."""
    rng = np.random.default_rng(seed)
    values = {tag: rng.standard_normal(steps).astype(np.float32) for tag in KTO_TAGS}
    values["train/loss"][steps // 2] = np.nan
    values["train/kl"][-1] = np.inf
    events = [simple(tag, step + 1, float(values[tag][step]), 1.7e9 + step)
              for step in range(steps) for tag in KTO_TAGS]
    return events, values


def record_ends(path: Path) -> list[int]:
    """Byte offset just past each record (TFRecord framing, read independently of the reader)."""
    raw = path.read_bytes()
    ends, pos = [], 0
    while pos + 12 <= len(raw):
        (length,) = struct.unpack_from("<Q", raw, pos)
        pos += length + 16
        ends.append(pos)
    return ends


# -- scalars ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("steps", [3, 400])  # one-by-one decoding, and the vectorised path
def test_simple_values_bit_for_bit(tmp_path, steps):
    events, values = kto_run(steps)
    data = read(write_events(tmp_path, events))
    assert data.format == "tensorboard" and not data.warnings
    assert data.records == len(events) + 1  # + the writer's file_version event
    names = {"train/loss": "loss", "train/kl": "kl", "train/rewards/chosen": "rewards/chosen",
             "train/rewards/rejected": "rewards/rejected", "train/grad_norm": "grad_norm"}
    assert sorted(data.series) == sorted(names.values())
    for tag, name in names.items():
        series = data.series[name]
        assert series.steps.dtype == np.int64
        np.testing.assert_array_equal(series.steps, np.arange(1, steps + 1))
        assert series.values.astype(np.float32).tobytes() == values[tag].tobytes()
        np.testing.assert_array_equal(series.wall_times, 1.7e9 + np.arange(steps))


def test_large_steps_and_step_zero(tmp_path):
    steps = [0, 1, 127, 128, 16383, 16384, 2**21, 2**35 + 7, 2**40]
    events = [simple("train/loss", s, float(i)) for i, s in enumerate(steps) for _ in range(10)]
    data = read(write_events(tmp_path, events))
    np.testing.assert_array_equal(data.series["loss"].steps, np.repeat(steps, 10))
    np.testing.assert_array_equal(data.series["loss"].values, np.repeat(np.arange(len(steps)), 10))


@pytest.mark.parametrize("count", [5, 200])
def test_tensor_scalars_v2(tmp_path, count):
    rng = np.random.default_rng(1)
    f32 = rng.standard_normal(count).astype(np.float32)
    f64 = rng.standard_normal(count)
    f16 = rng.standard_normal(count).astype(np.float16)
    events = []
    for i in range(count):
        events.append(tensor_scalar("train/kl", i, TensorProto(dtype=DT_FLOAT, float_val=[f32[i]]), i == 0))
        events.append(tensor_scalar("eval/loss", i, TensorProto(dtype=DT_DOUBLE, tensor_content=f64[i].tobytes()),
                                    i == 0))
        events.append(tensor_scalar("train/grad_norm", i, TensorProto(
            dtype=DT_HALF, half_val=[int(f16[i:i + 1].view(np.uint16)[0])]), i == 0))
    data = read(write_events(tmp_path, events))
    assert data.series["kl"].values.astype(np.float32).tobytes() == f32.tobytes()
    assert data.series["eval_loss"].values.tobytes() == f64.tobytes()
    assert data.series["grad_norm"].values.astype(np.float16).tobytes() == f16.tobytes()
    np.testing.assert_array_equal(data.series["eval_loss"].steps, np.arange(count))


V2_KINDS = {  # tag -> (dtype, how the value is stored, numpy type)
    "train/loss": (DT_FLOAT, "float_val", np.float32),
    "train/kl": (DT_FLOAT, "tensor_content", np.float32),
    "eval/loss": (DT_DOUBLE, "double_val", np.float64),
    "eval/kl": (DT_DOUBLE, "tensor_content", np.float64),
}


def v2_tensor(dtype: int, field: str, x, shape: bool = True) -> TensorProto:
    tensor = TensorProto(dtype=dtype, tensor_content=x.tobytes()) if field == "tensor_content" else \
        TensorProto(dtype=dtype, **{field: [x]})
    if shape:
        tensor.tensor_shape.CopyFrom(TensorShapeProto())
    return tensor


def v2_run(steps: int, seed: int = 2, shape: bool = True) -> tuple[list[Event], dict[str, np.ndarray]]:
    """v2 tensor scalar events for V2_KINDS at steps 1..steps (with NaN, inf, -0.0, subnormals)."""
    rng = np.random.default_rng(seed)
    values = {}
    for tag, (_, _, kind) in V2_KINDS.items():
        v = (rng.standard_normal(steps) * 10.0 ** rng.integers(-30, 30, steps)).astype(kind)
        v[:4] = [np.nan, -np.inf, -0.0, np.finfo(kind).smallest_subnormal]
        values[tag] = v
    events = [tensor_scalar(tag, step + 1, v2_tensor(dtype, field, values[tag][step], shape), step == 0)
              for step in range(steps) for tag, (dtype, field, _) in V2_KINDS.items()]
    return events, values


def assert_v2_values(data, values: dict[str, np.ndarray], steps: int) -> None:
    for tag, (_, _, kind) in V2_KINDS.items():
        series = data.series[{"train/loss": "loss", "train/kl": "kl"}.get(tag, tag.replace("/", "_"))]
        assert series.values.astype(kind).tobytes() == values[tag].tobytes()
        np.testing.assert_array_equal(series.steps, np.arange(1, steps + 1))


def count_one_by_one(monkeypatch) -> list[int]:
    """The number of records each call of the one-by-one decoder gets."""
    calls: list[int] = []
    original = tb._Events.decode_each

    def counted(self, buf, starts, lengths, rec):
        calls.append(len(starts))
        return original(self, buf, starts, lengths, rec)

    monkeypatch.setattr(tb._Events, "decode_each", counted)
    return calls


@pytest.mark.parametrize("shape", [True, False])
@pytest.mark.parametrize("check_crc", [True, False])
def test_v2_tensor_scalars_vectorised_bit_for_bit(tmp_path, monkeypatch, shape, check_crc):
    calls = count_one_by_one(monkeypatch)
    events, values = v2_run(300, shape=shape)
    data = read(write_events(tmp_path, events), check_crc=check_crc)
    assert not data.warnings and data.records == len(events) + 1
    assert_v2_values(data, values, 300)
    # only the file_version event and each tag's first value (with metadata) go one by one
    assert sum(calls) == 1 + len(V2_KINDS)


@pytest.mark.parametrize("chunk", [None, 97])  # records decoded together: all, or many chunks
def test_mixed_encodings_in_one_file(tmp_path, monkeypatch, chunk):
    if chunk:
        monkeypatch.setattr(tb, "CHUNK", chunk)
    v2_events, values = v2_run(200)
    simple_events, simple_values = kto_run(200)
    simple_events = [e for e in simple_events if e.summary.value[0].tag not in V2_KINDS]  # 3 other tags
    half = np.arange(200, dtype=np.float16)  # DT_HALF: decoded one by one, all through the file
    half_events = [tensor_scalar("train/epoch", s, TensorProto(dtype=DT_HALF, half_val=[int(half[s:s + 1].view(
        np.uint16)[0])]), s == 0) for s in range(200)]
    events = [e for group in zip_longest(v2_events, simple_events, half_events) for e in group if e is not None]
    data = read(write_events(tmp_path, events))
    assert not data.warnings
    assert_v2_values(data, values, 200)
    assert data.series["epoch"].values.astype(np.float16).tobytes() == half.tobytes()
    np.testing.assert_array_equal(data.series["epoch"].steps, np.arange(200))
    for tag, name in (("train/rewards/chosen", "rewards/chosen"), ("train/grad_norm", "grad_norm")):
        assert data.series[name].values.astype(np.float32).tobytes() == simple_values[tag].tobytes()
    assert np.all(np.diff(data.series["loss"].lines) > 0)


def test_one_tag_in_both_encodings_keeps_file_order(tmp_path):
    events = [tensor_scalar("train/loss", s, v2_tensor(DT_FLOAT, "float_val", np.float32(s)), s == 0)
              if s % 3 else simple("train/loss", s, float(s)) for s in range(300)]
    data = read(write_events(tmp_path, events))
    np.testing.assert_array_equal(data.series["loss"].steps, np.arange(300))
    np.testing.assert_array_equal(data.series["loss"].values, np.arange(300))


def test_v2_tensors_of_another_plugin_are_not_scalars(tmp_path):
    events, _ = v2_run(100)
    other = SummaryMetadata(plugin_data=SummaryMetadata.PluginData(plugin_name="custom"))
    odd = [Event(wall_time=1.0, step=s, summary=Summary(value=[Summary.Value(
        tag="custom/x", tensor=v2_tensor(DT_FLOAT, "float_val", np.float32(s)),
        metadata=other if s == 50 else None)])) for s in range(100)]
    data = read(write_events(tmp_path, events + odd))
    np.testing.assert_array_equal(data.series["custom/x"].steps, np.arange(50))  # the values before it


def test_v2_flipped_value_byte_drops_one_record(tmp_path):
    events, values = v2_run(200)
    path = write_events(tmp_path, events)
    raw = bytearray(path.read_bytes())
    ends = record_ends(path)
    raw[ends[403] - 5] ^= 0x01  # the last byte of a float64 value (record 403: eval/loss at step 101)
    path.write_bytes(bytes(raw))
    data = read(path)
    (warning,) = data.warnings
    assert "1 record(s) failed their checksum" in warning
    series = data.series["eval_loss"]
    assert len(series.steps) == 199 and 101 not in series.steps
    keep = np.arange(200) != 100
    assert series.values.tobytes() == values["eval/loss"][keep].tobytes()


def test_hf_tags_map_to_canonical_names(tmp_path):
    events = [simple(tag, 10, 1.0) for tag in ("train/loss", "eval/loss", "train/rewards/chosen",
                                                 "train/learning_rate", "eval/kl", "train/train_runtime")]
    data = read(write_events(tmp_path, events))
    assert sorted(data.series) == ["eval_kl", "eval_loss", "learning_rate", "loss", "rewards/chosen"]
    assert data.facts["train_runtime"] == 1.0


def test_other_summaries_are_skipped(tmp_path):
    histo = Summary.Value(tag="train/weights", histo=HistogramProto(min=0, max=1, num=3, bucket=[1, 2]))
    image = Summary.Value(tag="samples", image=Summary.Image(height=1, width=1, encoded_image_string=b"\x89PNG"))
    events = [Event(wall_time=1.7e9, step=s, summary=Summary(value=[histo, image])) for s in range(100)]
    events += [simple("train/loss", s, 0.5) for s in range(100)]
    data = read(write_events(tmp_path, events))
    assert list(data.series) == ["loss"] and not data.warnings


# -- configuration ---------------------------------------------------------------------------------
def test_text_summaries_and_hparams_to_config(tmp_path):
    args = {"learning_rate": 5e-06, "per_device_train_batch_size": 2, "output_dir": "saves/kto"}
    model = {"vocab_size": 151936, "model_type": "qwen2", "learning_rate": "not a training arg"}
    events = [text("args/text_summary", json.dumps(args)), text("model_config/text_summary", json.dumps(model)),
              simple("train/loss", 1, 0.7)]
    data = read(write_events(tmp_path / "a", events))
    assert data.config == {**model, **args}
    hp = read(write_events(tmp_path / "b", [hparams({"beta": 0.1, "optim": "adamw_torch", "bf16": True})]))
    assert hp.config == {"beta": 0.1, "optim": "adamw_torch", "bf16": True}


# -- damage ----------------------------------------------------------------------------------------
@pytest.fixture
def run_file(tmp_path) -> Path:
    events, _ = kto_run(100)
    return write_events(tmp_path / "run", events)


def test_truncated_last_record_at_any_cut(run_file, tmp_path):
    raw = run_file.read_bytes()
    ends = record_ends(run_file)
    last_start = ends[-2]
    for cut in (last_start + 1, last_start + 8, last_start + 11, last_start + 12, last_start + 20,
                len(raw) - 4, len(raw) - 1):
        path = tmp_path / f"events.out.tfevents.cut{cut}"
        path.write_bytes(raw[:cut])
        data = read(path)
        assert data.records == len(ends) - 1
        assert sum(len(s.steps) for s in data.series.values()) == len(ends) - 2  # less file_version
        (warning,) = data.warnings
        assert path.name in warning and f"byte offset {last_start}" in warning


def test_flipped_data_byte_drops_one_record(run_file):
    raw = bytearray(run_file.read_bytes())
    ends = record_ends(run_file)
    raw[ends[250] + 20] ^= 0x40  # inside the data of record 251
    run_file.write_bytes(bytes(raw))
    data = read(run_file)
    assert data.records == len(ends) - 1
    assert sum(len(s.steps) for s in data.series.values()) == len(ends) - 2
    (warning,) = data.warnings
    assert "1 record(s) failed their checksum" in warning and run_file.name in warning


def test_flipped_length_byte_resyncs(run_file):
    raw = bytearray(run_file.read_bytes())
    ends = record_ends(run_file)
    raw[ends[250] + 1] ^= 0x10  # the length of record 251: the walk must find record 252
    run_file.write_bytes(bytes(raw))
    data = read(run_file)
    assert data.records == len(ends) - 1
    loss = data.series["loss"]
    assert loss.steps[0] == 1 and loss.steps[-1] == 100  # before and after the damage
    (warning,) = data.warnings
    assert f"byte offset {ends[250]}" in warning and "1 damaged region(s)" in warning


def test_empty_file(tmp_path):
    path = tmp_path / "events.out.tfevents.1.host"
    path.write_bytes(b"")
    with pytest.raises(SourceError, match="empty"):
        read(path)


@pytest.mark.parametrize("content", [b"not an event file\n" * 1000, bytes(range(256)) * 4000, b"\0" * 5000],
                         ids=["text", "binary", "zeros"])
def test_not_an_event_file(tmp_path, content):
    path = tmp_path / "events.out.tfevents.1.host"
    path.write_bytes(content)
    with pytest.raises(SourceError, match="not a TensorBoard event file") as info:
        read(path)
    assert "\n" not in str(info.value)


LFS_POINTER = (b"version https://git-lfs.github.com/spec/v1\noid sha256:4892b52e8f59224fef36070b5f31b08de01fe51b10"
               b"44f89d2bf292dd43063bd3\nsize 358\n")


def test_a_git_lfs_pointer_is_named_as_one(tmp_path):
    """Repositories that keep runs/ in Git LFS (P4P4N1CK/whisper-large-v2-japanese-5k-steps holds seven such
    event files) give a clone without `git lfs pull` pointers of ~130 bytes in place of the events."""
    path = tmp_path / "events.out.tfevents.1674974582.gpu07.94170.1"
    path.write_bytes(LFS_POINTER)
    with pytest.raises(SourceError, match="not a TensorBoard event file .*a Git LFS pointer.*git lfs pull"):
        read(path)
    path.write_bytes(b"not an event file\n" * 10)
    with pytest.raises(SourceError) as info:
        read(path)
    assert "LFS" not in str(info.value)


def test_detected_by_name(run_file):
    assert detect(run_file) == "tensorboard"
    assert read_any(run_file).series["loss"].steps[-1] == 100


# -- several files ---------------------------------------------------------------------------------
def test_resume_supersedes_abandoned_steps_and_says_so(tmp_path):
    first = write_records(tmp_path / "events.out.tfevents.1", [simple("train/loss", s, 1.0, 100.0 + s)
                                                               for s in range(1, 11)])
    # a resume from step 6, by a later process: the first file's steps 6-10 were abandoned
    second = write_records(tmp_path / "events.out.tfevents.2", [simple("train/loss", s, 2.0, 500.0 + s)
                                                                for s in range(6, 16)])
    data = merge([read(second), read(first)])
    loss = data.series["loss"]
    np.testing.assert_array_equal(loss.steps, np.arange(1, 16))
    np.testing.assert_array_equal(loss.values, [1.0] * 5 + [2.0] * 10)
    (warning,) = data.warnings
    assert "resumed at step 6" in warning and "5 value(s)" in warning


def test_restart_from_scratch_drops_the_whole_abandoned_run(tmp_path):
    first = write_records(tmp_path / "events.out.tfevents.1", [simple("train/loss", s, 1.0, 100.0 + s)
                                                               for s in range(1, 21)])
    second = write_records(tmp_path / "events.out.tfevents.2", [simple("train/loss", s, 2.0, 500.0 + s)
                                                                for s in range(1, 11)])
    loss = merge([read(first), read(second)]).series["loss"]
    # no splice: steps 11-20 of the abandoned run do not continue the new one
    np.testing.assert_array_equal(loss.steps, np.arange(1, 11))
    assert (loss.values == 2.0).all()


def test_later_writer_of_the_same_process_adds_to_the_run(tmp_path):
    # HF's final evaluation is written by a new writer of the training process, at the last step
    first = write_records(tmp_path / "events.out.tfevents.100.host.4242.0",
                          [simple("train/loss", s, 1.0, 100.0 + s) for s in range(1, 11)]
                          + [simple("train/grad_norm", 10, 3.0, 110.0)])
    second = write_records(tmp_path / "events.out.tfevents.200.host.4242.1", [simple("eval/loss", 10, 0.5, 300.0),
                                                                               simple("train/loss", 10, 1.0, 300.0)])
    data = merge([read(first), read(second)])
    assert data.series["grad_norm"].steps.tolist() == [10]
    assert data.series["loss"].steps.tolist() == list(range(1, 11))
    assert data.series["eval_loss"].steps.tolist() == [10]
    assert not any("resumed" in w for w in data.warnings)


def test_merge_agreeing_files_do_not_warn(tmp_path):
    events = [simple("train/loss", s, 0.5, 100.0 + s) for s in range(5)]
    a = write_records(tmp_path / "events.out.tfevents.a", events)
    b = write_records(tmp_path / "events.out.tfevents.b", events[2:] + [simple("train/kl", 3, np.nan)])
    data = read_many([a, b])
    assert not data.warnings and sorted(data.series) == ["kl", "loss"]
    np.testing.assert_array_equal(data.series["loss"].steps, np.arange(5))


def test_many_tiny_files(tmp_path):
    paths = [write_records(tmp_path / f"events.out.tfevents.{i}", [simple(tag, i, float(i), 1e9 + i)
                                                                    for tag in KTO_TAGS[:3]])
             for i in range(2000)]
    (tmp_path / "events.out.tfevents.broken").write_bytes(b"garbage")
    data = read_many(paths + [tmp_path / "events.out.tfevents.broken"])
    assert data.records == 6000
    np.testing.assert_array_equal(data.series["kl"].steps, np.arange(2000))
    assert len(data.warnings) == 1 and "broken" in data.warnings[0]
