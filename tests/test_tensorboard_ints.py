"""Integer scalar tensors (DT_INT32 / DT_INT64 in `int_val`, `int64_val` or `tensor_content`) are read, and
agree with tbparse value for value, next to float tensors and simple values in the same file."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from tensorboard.compat.proto import types_pb2
from tensorboard.compat.proto.event_pb2 import Event
from tensorboard.compat.proto.summary_pb2 import Summary, SummaryMetadata
from tensorboard.compat.proto.tensor_pb2 import TensorProto
from tensorboard.summary.writer.record_writer import RecordWriter

from kto_doctor.sources.tensorboard import read

pytestmark = pytest.mark.filterwarnings("ignore:The inplace keyword")  # tbparse on pandas 3
SCALARS = SummaryMetadata(plugin_data=SummaryMetadata.PluginData(plugin_name="scalars"))


def _int_tensor(step: int, dtype: str) -> TensorProto:
    if dtype == "int64":
        return TensorProto(dtype=types_pb2.DT_INT64, int64_val=[2 ** 40 + 1000 * step])
    if dtype == "int32":
        return TensorProto(dtype=types_pb2.DT_INT32, int_val=[-step])  # negative: sign-extended varints
    return TensorProto(dtype=types_pb2.DT_INT64, tensor_content=np.int64(-7 * step).tobytes())


def write_events(path: Path, steps: int) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as f:
        w = RecordWriter(f)
        w.write(Event(wall_time=1.0, file_version="brain.Event:2").SerializeToString())
        for step in range(steps):
            first = step == 0
            values = [Summary.Value(tag=f"ints/{kind}", tensor=_int_tensor(step, kind), metadata=SCALARS if first else None)
                      for kind in ("int64", "int32", "content")]
            values.append(Summary.Value(tag="train/loss", metadata=SCALARS if first else None,
                                        tensor=TensorProto(dtype=types_pb2.DT_FLOAT, float_val=[1.0 / (step + 1)])))
            for v in values:  # one value per event, as TF2 writes them
                w.write(Event(wall_time=1.0 + step, step=step, summary=Summary(value=[v])).SerializeToString())
    return path


@pytest.mark.parametrize("steps", [5, 300])  # below and above the size where the vectorised path starts
def test_integer_scalar_tensors_match_tbparse(tmp_path, steps):
    from tensorboard.compat.tensorflow_stub import dtypes

    for name in ("int4", "uint4"):  # tbparse 0.0.9 names dtypes that tensorboard 2.21's stub lacks
        if not hasattr(dtypes, name):
            setattr(dtypes, name, object())
    from tbparse import SummaryReader

    path = write_events(tmp_path / "run" / "events.out.tfevents.1.host.1.0.v2", steps)
    got = read(path).series
    want = SummaryReader(str(path.parent)).tensors
    assert set(got) == {"ints/int64", "ints/int32", "ints/content", "loss"}
    for tag, name in (("ints/int64", "ints/int64"), ("ints/int32", "ints/int32"), ("ints/content", "ints/content"),
                      ("train/loss", "loss")):
        ref = want[want.tag == tag].sort_values("step")
        assert got[name].steps.tolist() == ref.step.tolist()
        np.testing.assert_array_equal(got[name].values, ref.value.astype(np.float64).to_numpy())
    assert got["ints/int32"].values[3] == -3.0
    assert got["ints/int64"].values[1] == 2 ** 40 + 1000


def test_the_generated_tf2_file_keeps_its_int64_global_step():
    # written by tensorboard 2.21's EventFileWriter + summary_v2.scalar_pb (make_tb.py next to it)
    folder = Path(__file__).parent / "fixtures" / "formats" / "tensorboard" / "generated" / "tb_tensor_scalars" / "train"
    data = read(next(folder.glob("events.out.tfevents.*")))
    assert data.series["loss"].values.tolist() == pytest.approx([0.9, 0.8, 0.7])
    assert data.facts["global_step"] == 42  # an int64 tensor: bookkeeping, kept as the run's fact
