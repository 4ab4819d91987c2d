#!/usr/bin/python3
"""Golden references for ossicle's training losses and the attention head, computed with PyTorch in float64.

Writes training_golden.safetensors (same container as make_lstm_golden.py) holding:
  ce.*   frame cross-entropy: "ce.logits" [B*T, C] float32, "ce.lengths" [B], "ce.targets" [B*T]
         (-1 ignored; rows past each length hold -1 too), "ce.weights" [C]; for each variant v in
         plain (no weight, no smoothing), smooth (label_smoothing 0.2), weighted (weight), both
         (weight and label_smoothing 0.2): "ce.<v>.loss" scalar (reduction="sum") and
         "ce.<v>.grad" [B*T, C] = d loss / d logits.
  ctc.*  CTC on log_softmax(ctc.logits): "ctc.logits" [B, T, C] float32, "ctc.lengths" [B], for each
         blank in (0, C-1): "ctc.blank<k>.targets" [B, S] (padded with -1), "ctc.blank<k>.target_lengths",
         "ctc.blank<k>.losses" [B] (reduction="none", zero_infinity=False: inf where impossible),
         "ctc.blank<k>.loss" scalar (reduction="sum", zero_infinity=True) and "ctc.blank<k>.grad"
         [B, T, C] its gradient with respect to the logits.
  att.*  an LSTM (bidirectional, 1 layer) with the attention-pooling head of models/output-layer.h:
         parameters under their state_dict names prefixed "att." (att.rnn.weight_ih_l0, ..., att.att.weight,
         att.att.bias, att.att.context, att.out.weight, att.out.bias), "att.input" [B, T, F],
         "att.lengths", "att.labels" [B], "att.clip_log_probs" [B, C], "att.loss" (nll, reduction="sum")
         and "att.grad.<name>" for every parameter and "att.grad.input".
Run: /usr/bin/python3 make_training_golden.py OUTDIR
"""
import json, os, struct, sys
import numpy as np
import torch
import torch.nn.functional as F


def save_safetensors(path, tensors, metadata):
    header, blobs, off = {}, [], 0
    for name, t in tensors.items():
        a = t.detach().cpu().contiguous().numpy()
        dt = {np.float32: "F32", np.float64: "F64", np.int64: "I64"}[a.dtype.type]
        b = a.tobytes()
        header[name] = {"dtype": dt, "shape": list(a.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b); off += len(b)
    header["__metadata__"] = {k: json.dumps(v) if not isinstance(v, str) else v for k, v in metadata.items()}
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h))); f.write(h)
        for b in blobs: f.write(b)


def cross_entropy(t):
    B, T, C = 3, 4, 5
    lengths = torch.tensor([4, 2, 3])
    logits32 = torch.randn(B * T, C) * 2
    targets = torch.randint(0, C, (B * T,))
    for b in range(B):
        targets[b * T + int(lengths[b]):(b + 1) * T] = -1
    targets[1] = -1  # an ignored frame inside a sequence
    weights32 = torch.rand(C) + 0.25
    t["ce.logits"] = logits32; t["ce.lengths"] = lengths; t["ce.targets"] = targets; t["ce.weights"] = weights32
    for name, weight, smoothing in (("plain", None, 0.0), ("smooth", None, 0.2),
                                    ("weighted", weights32.double(), 0.0), ("both", weights32.double(), 0.2)):
        x = logits32.double().requires_grad_(True)
        loss = F.cross_entropy(x, targets, weight=weight, ignore_index=-1, reduction="sum", label_smoothing=smoothing)
        loss.backward()
        t["ce.%s.loss" % name] = loss.detach().reshape(())
        t["ce.%s.grad" % name] = x.grad


def ctc(t):
    B, T, C = 4, 7, 5
    lengths = torch.tensor([7, 6, 2, 5])
    logits32 = torch.randn(B, T, C) * 1.5
    t["ctc.logits"] = logits32; t["ctc.lengths"] = lengths
    for blank in (0, C - 1):
        labels = [l for l in range(C) if l != blank]
        a, b, c, d = labels
        # repeated label (needs a blank between), plain, too long for its 2 frames, empty target
        targets = [[a, a, b], [d, c], [a, b, c], []]
        S = max(len(x) for x in targets)
        tt = torch.full((B, S), -1, dtype=torch.int64)
        for i, x in enumerate(targets):
            tt[i, :len(x)] = torch.tensor(x, dtype=torch.int64)
        tl = torch.tensor([len(x) for x in targets])
        key = "ctc.blank%d" % blank
        t[key + ".targets"] = tt; t[key + ".target_lengths"] = tl
        x = logits32.double().requires_grad_(True)
        lp = torch.log_softmax(x, dim=-1).transpose(0, 1)
        padded = tt.clamp(min=0)
        t[key + ".losses"] = F.ctc_loss(lp, padded, lengths, tl, blank=blank, reduction="none", zero_infinity=False).detach()
        loss = F.ctc_loss(lp, padded, lengths, tl, blank=blank, reduction="sum", zero_infinity=True)
        loss.backward()
        t[key + ".loss"] = loss.detach().reshape(())
        t[key + ".grad"] = x.grad


def attention(t):
    Fdim, H, A, C = 4, 3, 5, 3
    lengths = [5, 3]
    B, T = len(lengths), max(lengths)
    rnn32 = torch.nn.LSTM(Fdim, H, num_layers=1, bidirectional=True, batch_first=True)
    att32 = torch.nn.Linear(2 * H, A)
    context32 = torch.empty(A).uniform_(-1 / A ** 0.5, 1 / A ** 0.5)
    out32 = torch.nn.Linear(2 * H, C)
    x32 = torch.randn(B, T, Fdim)
    for b, n in enumerate(lengths):
        x32[b, n:] = 0
    labels = torch.tensor([2, 0])
    params = {}
    for k, v in rnn32.state_dict().items(): params["rnn." + k] = v
    params["att.weight"] = att32.weight.detach(); params["att.bias"] = att32.bias.detach()
    params["att.context"] = context32
    params["out.weight"] = out32.weight.detach(); params["out.bias"] = out32.bias.detach()
    for k, v in params.items(): t["att." + k] = v
    t["att.input"] = x32; t["att.lengths"] = torch.tensor(lengths); t["att.labels"] = labels
    rnn = torch.nn.LSTM(Fdim, H, num_layers=1, bidirectional=True, batch_first=True).double()
    rnn.load_state_dict({k: v.double() for k, v in rnn32.state_dict().items()})
    p = {"rnn." + k: v for k, v in rnn.named_parameters()}
    for k in ("att.weight", "att.bias", "att.context", "out.weight", "out.bias"):
        p[k] = params[k].double().clone().requires_grad_(True)
    x = x32.double().requires_grad_(True)
    packed = torch.nn.utils.rnn.pack_padded_sequence(x, torch.tensor(lengths), batch_first=True, enforce_sorted=False)
    y, _ = rnn(packed)
    y, _ = torch.nn.utils.rnn.pad_packed_sequence(y, batch_first=True, total_length=T)
    e = torch.tanh(y @ p["att.weight"].T + p["att.bias"]) @ p["att.context"]          # [B, T]
    mask = torch.arange(T)[None, :] < torch.tensor(lengths)[:, None]
    alpha = torch.softmax(e.masked_fill(~mask, float("-inf")), dim=1)
    pooled = (alpha[:, :, None] * y).sum(dim=1)
    lp = torch.log_softmax(pooled @ p["out.weight"].T + p["out.bias"], dim=-1)
    loss = F.nll_loss(lp, labels, reduction="sum")
    loss.backward()
    t["att.clip_log_probs"] = lp.detach(); t["att.loss"] = loss.detach().reshape(())
    for k, v in p.items(): t["att.grad." + k] = v.grad
    t["att.grad.input"] = x.grad


if __name__ == "__main__":
    outdir = sys.argv[1] if len(sys.argv) > 1 else "."
    torch.manual_seed(11)
    tensors = {}
    cross_entropy(tensors)
    ctc(tensors)
    attention(tensors)
    save_safetensors(os.path.join(outdir, "training_golden.safetensors"), tensors, {"torch": torch.__version__})
    print({k: list(v.shape) for k, v in tensors.items()})
