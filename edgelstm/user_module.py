"""How a user's nn.Module is called, found by probing it rather than guessed from its layers.

- the input: the first size-bearing layer *in forward order* (forward pre-hooks on leaf modules) proposes the
  feature count (Conv1d/Conv2d in_channels, Linear in_features, RNN input_size, Embedding vocabulary); a forward on
  [B, T, C] (or, for a convolution front end, [B, C, T]) confirms it;
- the forward's extra arguments: lengths (by name), constants (`--const sr=16000`), and recurrent state
  (`forward(x, state) -> (y, new_state)`), confirmed by feeding the returned state back in.

Every command then calls the model as `module(x)` on [batch, time, features]: `UserModule` adapts the rest.
"""

from __future__ import annotations

import contextlib
import inspect
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from edgelstm.errors import ConfigError, LoadError, UserCodeError, first_line
from edgelstm.jsonio import json_meta

LENGTH_NAMES = ("lengths", "length", "lens", "seq_lens", "seq_lengths", "x_lens", "x_lengths")
STATE_NAMES = ("state", "states", "h", "hx", "h0", "hidden", "hc", "memory", "cache")
PROBE_BATCH, PROBE_STEPS = 2, 16


def _state_records(signature: ForwardSignature) -> list[dict[str, Any]]:
    """Each state parameter with its shape (the batch axis named) and batch axis, as graph metadata records them."""
    return [
        {"name": n, "shape": ["batch" if i == a else d for i, d in enumerate(s)], "batch_axis": a}
        for n, s, a in zip(signature.states, signature.state_shapes, signature.state_batch_axes, strict=True)
    ]


@dataclass(frozen=True)
class ForwardSignature:
    """How forward() is called beyond x: what edgelstm feeds it, recorded in reports and artifact metadata (each
    state written with its shape and batch axis, so the graph can be re-driven later)."""

    layout: Literal["btc", "bct"] = "btc"  # bct: the model takes [batch, channels, time] (a Conv1d front end)
    lengths: str | None = None  # name of a lengths parameter, fed with full lengths
    constants: Mapping[str, float | int] = field(default_factory=dict)
    # state parameters, returned updated after the output
    states: tuple[str, ...] = field(default=(), metadata=json_meta(compute=_state_records))
    # as probed at batch PROBE_BATCH
    state_shapes: tuple[tuple[int, ...], ...] = field(default=(), metadata=json_meta(skip=True))
    state_batch_axes: tuple[int, ...] = field(default=(), metadata=json_meta(skip=True))
    states_required: bool = False  # forward has no default for them: edgelstm feeds zeros

    @property
    def is_plain(self) -> bool:
        """Whether forward takes only the data in batch-time-channel layout (no lengths, constants or state)."""
        return self.layout == "btc" and not self.lengths and not self.constants and not self.states


def _torch() -> Any:
    import torch

    return torch


class _Reached(Exception):
    def __init__(self, layer: Any) -> None:
        super().__init__(type(layer).__name__)
        self.layer = layer


def _proposal(layer: Any) -> tuple[str, int] | None:
    """What a layer says about the input it takes: ("features", n) or ("tokens", vocabulary)."""
    nn = _torch().nn
    if isinstance(layer, nn.Embedding):
        return ("tokens", layer.num_embeddings)
    if isinstance(layer, (nn.Conv1d, nn.Conv2d)):
        return ("features", layer.in_channels)
    if isinstance(layer, nn.Linear):
        return ("features", layer.in_features)
    if isinstance(layer, (nn.RNNBase, nn.RNNCellBase)):
        return ("features", layer.input_size)
    return None


def first_layer_in_forward_order(module: Any, call: Any, candidates: list[tuple[str, int]]) -> Any | None:
    """The first size-bearing leaf that forward() reaches, tried with each candidate input until one gets there."""
    torch = _torch()
    leaves = [m for m in module.modules() if _proposal(m) is not None]

    def stop(layer: Any, _inputs: Any) -> None:
        raise _Reached(layer)

    handles = [leaf.register_forward_pre_hook(stop) for leaf in leaves]
    try:
        for kind, size in candidates:
            x = _example(kind, size, PROBE_BATCH, PROBE_STEPS)
            try:
                with torch.no_grad():
                    call(x)
            except _Reached as reached:
                return reached.layer
            except (Exception, SystemExit):  # a wrong candidate may fail before any layer: try the next
                continue
    finally:
        for handle in handles:
            handle.remove()
    return None


def _example(kind: str, size: int, batch: int, steps: int) -> Any:
    torch = _torch()
    generator = torch.Generator().manual_seed(0)
    if kind == "tokens":
        return torch.randint(0, size, (batch, steps), generator=generator)
    return torch.randn(batch, steps, size, generator=generator)


def _shape_text(x: Any) -> str:
    return f"x[{', '.join(str(d) for d in x.shape)}]"


@dataclass
class _Parameters:
    lengths: str | None
    states: list[str]
    required_states: list[str]


def _read_parameters(module: Any, origin: str, constants: Mapping[str, float | int]) -> _Parameters:
    try:
        parameters = list(inspect.signature(module.forward).parameters.values())
    except (TypeError, ValueError):
        return _Parameters(None, [], [])
    named = [p for p in parameters if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
    takes_kwargs = any(p.kind == p.VAR_KEYWORD for p in parameters)
    names = [p.name for p in named]
    for name in constants:
        if name not in names[1:] and not takes_kwargs:
            raise LoadError(
                f"{origin}: --const {name}: forward() has no argument {name!r} (it takes {', '.join(names) or 'nothing'})"
            )
    lengths, states, required = None, [], []
    for p in named[1:]:
        if p.name in constants:
            continue
        if p.name.lower() in LENGTH_NAMES:
            lengths = p.name
        elif p.name.lower() in STATE_NAMES or p.default is inspect.Parameter.empty:
            if p.default is inspect.Parameter.empty and p.name.lower() not in STATE_NAMES:
                raise LoadError(
                    f"{origin}: forward() needs an argument {p.name!r} that edgelstm cannot probe; "
                    f"fix it with --const {p.name}=VALUE, or give it a default"
                )
            states.append(p.name)
            if p.default is inspect.Parameter.empty:
                required.append(p.name)
    return _Parameters(lengths, states, required)


class _Caller:
    """Calls the user's forward the way a ForwardSignature says, with states given or left to their defaults."""

    def __init__(self, module: Any, signature: ForwardSignature, initial: list[Any] | None) -> None:
        self.module, self.signature, self.initial = module, signature, initial

    def __call__(self, x: Any, states: list[Any] | None = None, lengths: Any = None) -> Any:
        torch = _torch()
        sig = self.signature
        kwargs: dict[str, Any] = dict(sig.constants)
        if sig.lengths and lengths is not None:
            kwargs[sig.lengths] = lengths
        elif sig.lengths:  # every sequence full length; trace-safe (no Python ints from shapes)
            kwargs[sig.lengths] = torch.ones_like(x[..., 0] if x.dim() == 3 else x, dtype=torch.int64).sum(dim=1)
        given = states if states is not None else self.initial
        if given is not None:
            kwargs.update(dict(zip(sig.states, given, strict=False)))
        inputs = x.transpose(1, 2) if sig.layout == "bct" else x
        return self.module(inputs, **kwargs)


def probe_user_module(
    module: Any, origin: str, input_size: int | None, constants: Mapping[str, float | int]
) -> tuple[tuple[str, int], ForwardSignature]:
    """((kind, size), ForwardSignature) for a user module, each confirmed by a forward that ran."""
    torch = _torch()
    params = _read_parameters(module, origin, constants)
    base = ForwardSignature(lengths=params.lengths, constants=dict(constants), states=tuple(params.states))
    initials = _initial_state_candidates(module, params)
    if input_size is not None:
        candidates = [("features", input_size)]
    else:
        candidates = list(dict.fromkeys(p for m in module.modules() if (p := _proposal(m)) is not None))
        if not candidates:
            raise LoadError(f"{origin}: cannot tell the input size (no Conv/Linear/RNN/Embedding layer found); pass --input-size")
        layer = None
        for initial in initials:
            layer = first_layer_in_forward_order(module, _Caller(module, base, initial), candidates)
            if layer is not None:
                break
        # The layer was picked among those with a proposal; without one, forward fails before any layer and its own
        # error says why, so the first candidate stands.
        proposal = _proposal(layer) if layer is not None else None
        candidates = [proposal] if proposal is not None else candidates[:1]
    kind, size = candidates[0]
    layouts: list[Literal["btc", "bct"]] = ["btc", "bct"] if kind == "features" else ["btc"]
    steps = PROBE_STEPS if size != PROBE_STEPS else PROBE_STEPS + 1  # T != C, so the layouts cannot be confused
    x = _example(kind, size, PROBE_BATCH, steps)
    first_error: BaseException = LoadError("no layout tried")
    tried = False
    for layout in layouts:
        signature = ForwardSignature(layout, params.lengths, dict(constants), tuple(params.states))
        for initial in initials:
            caller = _Caller(module, signature, initial)
            try:
                with torch.no_grad():
                    output = caller(x)
            except (Exception, SystemExit) as exc:
                first_error = exc if not tried else first_error
                tried = True
                continue
            return (kind, size), _confirm_states(caller, x, output, origin)
    hint = "" if input_size is not None else " (pass --input-size if the feature count is not the first layer's)"
    raise UserCodeError(
        f"running {origin} on {_shape_text(x)} failed: {type(first_error).__name__}: {first_line(first_error)}{hint}"
    )


def _initial_state_candidates(module: Any, params: _Parameters) -> list[list[Any] | None]:
    """None: leave state arguments to their defaults. When forward requires them: zeros shaped like the last RNN's."""
    if not params.required_states:
        return [None]
    torch = _torch()
    rnns = [m for m in module.modules() if isinstance(m, torch.nn.RNNBase)]
    if not rnns:
        return [None]
    rnn = rnns[-1]
    shape = (rnn.num_layers * (2 if rnn.bidirectional else 1), PROBE_BATCH, rnn.hidden_size)
    zeros = torch.zeros(shape)
    if isinstance(rnn, torch.nn.LSTM):
        return [[(zeros, zeros.clone())], [zeros, zeros.clone()]]
    return [[zeros]]


def _confirm_states(caller: _Caller, x: Any, output: Any, origin: str) -> ForwardSignature:
    """A forward with state arguments that returns (y, new_state...) shaped like them is stateful: record the layout."""
    torch = _torch()
    sig = caller.signature
    if not sig.states:
        return sig
    returned = list(output[1 : 1 + len(sig.states)]) if isinstance(output, (tuple, list)) and len(output) > 1 else []
    if len(returned) != len(sig.states) or not all(isinstance(s, torch.Tensor) for s in returned):
        # states are optional arguments the model does not hand back: call it with their defaults
        if caller.initial is None:
            return ForwardSignature(sig.layout, sig.lengths, sig.constants)
        raise LoadError(f"{origin}: forward() takes {', '.join(sig.states)} but does not return them after its output")
    try:
        with torch.no_grad():
            again = caller(x, returned)  # the returned state must be accepted back
            wider = caller(torch.cat([x, x[:1]]), None)
    except (Exception, SystemExit) as exc:
        raise UserCodeError(
            f"running {origin} on {_shape_text(x)} with its returned state failed: {type(exc).__name__}: {first_line(exc)}"
        ) from None
    shapes = tuple(tuple(s.shape) for s in returned)
    if [tuple(s.shape) for s in again[1 : 1 + len(shapes)]] != list(shapes):
        raise LoadError(f"{origin}: forward() returned a state of another shape when given its own state back")
    axes = []
    for state, bigger in zip(returned, wider[1 : 1 + len(shapes)], strict=True):
        changed = [i for i, (a, b) in enumerate(zip(state.shape, bigger.shape, strict=True)) if a != b]
        axes.append(changed[0] if changed else -1)
    return ForwardSignature(sig.layout, sig.lengths, sig.constants, sig.states, shapes, tuple(axes), caller.initial is not None)


def make_user_module(module: Any, signature: ForwardSignature, origin: str) -> Any:
    """`module(x)` on [batch, time, features] for every command: the forward's other arguments filled in."""
    import torch

    class UserModule(torch.nn.Module):
        """Calls the user's forward with its lengths, constants and initial state; returns the output only."""

        def __init__(self) -> None:
            super().__init__()
            self.inner = module

        def forward(self, x: Any, *rest: Any) -> Any:
            # What a graph's inputs feed the reference: lengths (int64) for a sequence graph, or the recurrent
            # layers' states (float) for a streaming graph, which then returns (output, *final states).
            lengths = rest[0] if rest and not rest[0].is_floating_point() else None
            states = [r for r in rest if r.is_floating_point()]
            if states:
                return self._run_carrying(x, states)
            if lengths is None or signature.lengths or bool((lengths == x.shape[1]).all()):
                return self._run(x, lengths)
            # A forward without lengths sees each sequence cut to its length, as the graph masks it.
            outputs = [self._run(x[i : i + 1, : int(n)], None) for i, n in enumerate(lengths.tolist())]
            return _stack_padded(outputs, x.shape[1])

        def _run(self, x: Any, lengths: Any) -> Any:
            output = _Caller(self.inner, signature, self._initial_state(x))(x, lengths=lengths)
            return output[0] if signature.states else output

        def _run_carrying(self, x: Any, states: list[Any]) -> Any:
            layers = recurrent_layers(self.inner)
            expected = sum(2 if isinstance(layer, torch.nn.LSTM) else 1 for layer in layers)
            if len(states) != expected:
                raise ConfigError(
                    f"{origin}: the graph feeds {len(states)} state tensor(s); the module's recurrent layers carry {expected}"
                )
            with carry_recurrent_state(layers, states) as finals:
                output = self._run(x, None)
            return (output, *finals)

        def _initial_state(self, x: Any) -> list[Any] | None:
            if not signature.states_required:
                return None  # the forward's own defaults
            # zeros with x's batch, built from x so a traced graph keeps the batch axis dynamic
            zero = x.reshape(x.shape[0], -1)[:, 0].float() * 0
            states = []
            for shape, axis in zip(signature.state_shapes, signature.state_batch_axes, strict=True):
                if axis < 0:
                    states.append(torch.zeros(shape))
                    continue
                view = [1] * len(shape)
                view[axis] = -1
                sizes = [-1 if i == axis else s for i, s in enumerate(shape)]
                states.append(zero.reshape(view).expand(*sizes).contiguous())
            return states

    UserModule.__name__ = UserModule.__qualname__ = type(module).__name__  # reports name the user's class
    return UserModule().eval()


def recurrent_layers(module: Any) -> list[Any]:
    """The module's nn.LSTM / nn.GRU / nn.RNN layers, in registration order (each carries its own state)."""
    torch = _torch()
    return [m for m in module.modules() if isinstance(m, torch.nn.RNNBase)]


@contextlib.contextmanager
def carry_recurrent_state(layers: list[Any], states: list[Any]) -> Iterator[list[Any]]:
    """Run the user's forward with each recurrent layer starting from the given state; the list yielded fills with
    their final states (h, and c for an LSTM, in layer order) once the forward has run.

    Hooks, not a rewrite of forward(): the user's code between the layers stays exactly as written.
    """
    torch = _torch()
    finals: list[Any] = []
    given = list(states)
    handles = []
    for layer in layers:
        is_lstm = isinstance(layer, torch.nn.LSTM)
        initial = (given.pop(0), given.pop(0)) if is_lstm else given.pop(0)

        def before(module: Any, args: tuple[Any, ...], initial: Any = initial) -> tuple[Any, ...]:
            return (args[0], initial)

        def after(module: Any, args: tuple[Any, ...], output: Any, is_lstm: bool = is_lstm) -> None:
            finals.extend(output[1] if is_lstm else [output[1]])

        handles += [layer.register_forward_pre_hook(before), layer.register_forward_hook(after)]
    try:
        yield finals
    finally:
        for handle in handles:
            handle.remove()


def _stack_padded(outputs: list[Any], steps: int) -> Any:
    """Per-sequence outputs back into one batch; per-step outputs ([1, t, ...]) zero-padded to `steps`."""
    torch = _torch()
    if isinstance(outputs[0], (tuple, list)):
        return type(outputs[0])(_stack_padded([o[k] for o in outputs], steps) for k in range(len(outputs[0])))
    lengths = {o.shape[1] if o.dim() > 1 else 0 for o in outputs}
    per_step = outputs[0].dim() >= 3 or len(lengths) > 1
    if per_step:
        outputs = [torch.nn.functional.pad(o, [0, 0] * (o.dim() - 2) + [0, steps - o.shape[1]]) for o in outputs]
    return torch.cat(outputs, dim=0)
