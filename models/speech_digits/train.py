#!/usr/bin/python3
"""speech_digits: spoken digit (zero..nine) classifier on 1 s of 16 kHz mono audio.

Data: isolated digit words synthesized at build time with espeak-ng (8 English accents x ~100
voice variants, random speed/pitch) and flite voices, resampled to 16 kHz mono with sox and
cached under --cache. Whole voices are held out for evaluation:
  * espeak-ng: the variants in HELDOUT_VARIANTS never occur in training, with any accent;
  * flite: the voice HELDOUT_FLITE (slt, the only female flite voice) never occurs in training.
Augmentation: random time shift inside the 1 s window, random gain, white noise at random SNR,
occasional hard clipping; during training also random time roll, mel-axis warp and band masking.

Model (TorchScript): pre-emphasis -> STFT (25 ms Hann, 10 ms hop) -> power -> 40-band log-mel
(filterbank built here, HTK mel scale) -> per-utterance normalization -> small CNN -> softmax.

Run from the repo root:
  /usr/bin/python3 models/speech_digits/train.py --out models/repository/speech_digits \
      --eval models/eval/speech_digits --cache models/.cache/speech_digits
"""
import argparse
import concurrent.futures
import hashlib
import json
import math
import os
import shutil
import subprocess
import tempfile
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
NAME = "speech_digits"
LABELS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
SR = 16000
ACCENTS = ["en", "en-us", "en-gb-scotland", "en-gb-x-rp", "en-029", "en-gb-x-gbclan",
           "en-gb-x-gbcwmd", "en-us-nyc"]
# whole espeak-ng voice variants held out for evaluation (never used in training, any accent)
HELDOUT_VARIANTS = ["m3", "f2", "klatt3", "Andy", "edward", "linda"]
FLITE_TRAIN = ["kal", "kal16", "awb", "rms"]
HELDOUT_FLITE = "slt"
FLITE_SETTINGS = [(s, p) for s in (0.8, 0.95, 1.1, 1.25) for p in (90, 120, 150)]
FLITE_EVAL_SETTINGS = [(0.85, 0), (1.0, 0), (1.2, 0), (0.9, 1), (1.1, 1)]  # (stretch, default pitch / shifted)
FLITE_PITCH_SHIFTS = [0, 300, 500]  # cents, sox "pitch" on training flite voices (male -> higher voices)

N_FFT, WIN, HOP, N_MELS = 512, 400, 160, 40
SYNTH_VERSION = "3"  # bump when the synthesis recipe changes


def log(*a):
    print("[speech_digits]", *a, flush=True)


# --------------------------------------------------------------------------- synthesis

def espeak_variants():
    out = subprocess.run(["espeak-ng", "--voices=variant"], capture_output=True, text=True,
                         check=True).stdout.splitlines()[1:]
    names = []
    for line in out:
        parts = line.split()
        files = [p for p in parts if p.startswith("!v/")]
        if not files:
            continue
        # the file column may hold spaces ("!v/Mr serious"): skip those
        idx = line.index("!v/")
        rest = line[idx + 3:].strip()
        if " " in rest:
            continue
        names.append(rest)
    return sorted(set(names))


def sox_to_float(wav_bytes_or_path, extra=()):
    """Resample (any wav) to 16 kHz mono float32 with sox."""
    if isinstance(wav_bytes_or_path, bytes):
        cmd = ["sox", "-t", "wav", "-"]
        inp = wav_bytes_or_path
    else:
        cmd = ["sox", wav_bytes_or_path]
        inp = None
    cmd += ["-r", str(SR), "-c", "1", "-t", "raw", "-e", "floating-point", "-b", "32", "-"]
    cmd += list(extra)
    out = subprocess.run(cmd, input=inp, capture_output=True, check=True).stdout
    return np.frombuffer(out, dtype="<f4").copy()


def trim(x, thresh=0.005, margin=800):
    """Cut leading/trailing silence (relative threshold), keep a small margin."""
    if x.size == 0:
        return np.zeros(1, np.float32)
    a = np.abs(x)
    idx = np.nonzero(a > thresh * max(a.max(), 1e-6))[0]
    if idx.size == 0:
        return x[:1]
    lo, hi = max(0, idx[0] - margin), min(x.size, idx[-1] + margin)
    return x[lo:hi].astype(np.float32)


def voice_seed(name):
    return int(hashlib.sha256(name.encode()).hexdigest()[:8], 16)


def synth_espeak(task):
    accent, variant, path = task
    rng = np.random.RandomState(voice_seed(accent + "+" + variant))
    clips = []
    for word in LABELS:
        speed = int(rng.randint(130, 211))
        pitch = int(rng.randint(25, 76))
        wav = subprocess.run(["espeak-ng", "-v", f"{accent}+{variant}", "-s", str(speed),
                              "-p", str(pitch), "--stdout", word],
                             capture_output=True, check=True).stdout
        clips.append(sox_to_float(wav))
    save_clips(path, clips)
    return path


def synth_flite(task):
    voice, settings, shift, path = task
    clips = []
    with tempfile.TemporaryDirectory() as td:
        wavp = os.path.join(td, "x.wav")
        for stretch, f0 in settings:
            for word in LABELS:
                cmd = ["flite", "-voice", voice, "--setf", f"duration_stretch={stretch}"]
                if f0:
                    cmd += ["--setf", f"int_f0_target_mean={f0}"]
                subprocess.run(cmd + ["-t", word, "-o", wavp], capture_output=True, check=True)
                extra = ["pitch", str(shift)] if shift else []
                clips.append(sox_to_float(wavp, extra))
    save_clips(path, clips)
    return path


def save_clips(path, clips):
    lens = np.array([c.size for c in clips], np.int64)
    tmp = path + ".tmp.npz"
    audio = np.clip(np.round(np.concatenate(clips) * 32767.0), -32768, 32767).astype("<i2")
    np.savez(tmp, audio=audio, lens=lens)
    os.replace(tmp, path)


def load_clips(path):
    d = np.load(path)
    audio = d["audio"].astype(np.float32) / 32767.0
    return [trim(c) for c in np.split(audio, np.cumsum(d["lens"])[:-1])]


def synthesize(cache):
    adir = os.path.join(cache, "audio-v" + SYNTH_VERSION)
    os.makedirs(adir, exist_ok=True)
    for old in os.listdir(cache):  # audio from an older synthesis recipe
        if old.startswith("audio-v") and old != os.path.basename(adir):
            shutil.rmtree(os.path.join(cache, old), ignore_errors=True)
    variants = espeak_variants()
    missing = [v for v in HELDOUT_VARIANTS if v not in variants]
    if missing:
        raise SystemExit(f"espeak-ng variants missing: {missing}")
    tasks_e, tasks_f = [], []
    groups = {"train": [], "heldout": [], "flite_train": [], "flite_heldout": []}
    for accent in ACCENTS:
        for v in variants:
            p = os.path.join(adir, f"espeak_{accent}+{v}.npz")
            groups["heldout" if v in HELDOUT_VARIANTS else "train"].append(p)
            if not os.path.exists(p):
                tasks_e.append((accent, v, p))
    for voice in FLITE_TRAIN:
        for shift in FLITE_PITCH_SHIFTS:
            p = os.path.join(adir, f"flite_{voice}_p{shift}.npz")
            groups["flite_train"].append(p)
            if not os.path.exists(p):
                tasks_f.append((voice, [(s, p0) for s, p0 in FLITE_SETTINGS], shift, p))
    # held-out flite voice: its own default pitch (0) and a raised target pitch
    p = os.path.join(adir, f"flite_{HELDOUT_FLITE}_eval.npz")
    groups["flite_heldout"].append(p)
    if not os.path.exists(p):
        sett = [(s, 0 if k == 0 else 200) for s, k in FLITE_EVAL_SETTINGS]
        tasks_f.append((HELDOUT_FLITE, sett, 0, p))
    n = len(tasks_e) + len(tasks_f)
    if n:
        log(f"synthesizing {n} voice sets ({len(tasks_e)} espeak-ng x 10 digits, "
            f"{len(tasks_f)} flite) with 2 processes ...")
        t0 = time.time()
        done = 0
        with concurrent.futures.ThreadPoolExecutor(2) as ex:
            futs = [ex.submit(synth_flite, t) for t in tasks_f] + \
                   [ex.submit(synth_espeak, t) for t in tasks_e]
            for f in concurrent.futures.as_completed(futs):
                f.result()
                done += 1
                if done % 200 == 0:
                    log(f"  {done}/{n} ({time.time() - t0:.0f} s)")
        log(f"synthesis done in {time.time() - t0:.1f} s")
        with open(os.path.join(adir, "synthesis.json"), "w") as f:
            json.dump({"synthesis_seconds": round(time.time() - t0, 1), "voice_sets": n}, f)
    else:
        log("synthesized audio cached")
    groups["synthesis_info"] = os.path.join(adir, "synthesis.json")
    return groups


def gather(paths):
    clips, labels, voices = [], [], []
    for vi, p in enumerate(paths):
        cs = load_clips(p)
        clips += cs
        labels += [i % 10 for i in range(len(cs))]
        voices += [vi] * len(cs)
    return clips, np.array(labels, np.int64), np.array(voices, np.int64)


def augment(clips, rng, snr_db=(5.0, 40.0), gain_db=(-30.0, 0.0), noise_prob=0.8,
            clip_prob=0.0):
    """Place each clip at a random offset in 1 s, random gain, white noise at a random SNR."""
    out = np.zeros((len(clips), SR), np.float32)
    noise_std = np.zeros(len(clips), np.float32)
    for i, c in enumerate(clips):
        if c.size > SR:  # very slow speech: random crop
            s = rng.randint(0, c.size - SR + 1)
            c = c[s:s + SR]
        off = rng.randint(0, SR - c.size + 1)
        peak = max(float(np.abs(c).max()), 1e-6)
        x = c * ((10 ** (rng.uniform(*gain_db) / 20.0)) * 0.9 / peak)
        if rng.rand() < clip_prob:  # overdriven input: boost and hard-clip
            x = np.clip(x * 10 ** (rng.uniform(6.0, 30.0) / 20.0), -1.0, 1.0)
        out[i, off:off + c.size] = x
        snr = rng.uniform(*snr_db)
        if rng.rand() < noise_prob:
            p_sig = float(np.mean(x * x)) + 1e-12
            noise_std[i] = math.sqrt(p_sig / 10 ** (snr / 10.0))
    g = torch.Generator().manual_seed(int(rng.randint(0, 2 ** 31 - 1)))
    w = torch.from_numpy(out)
    for i in range(0, len(clips), 1024):
        n = torch.randn(w[i:i + 1024].shape, generator=g)
        w[i:i + 1024] += n * torch.from_numpy(noise_std[i:i + 1024])[:, None]
    return w.clamp_(-1.0, 1.0).numpy()


# --------------------------------------------------------------------------- model

def mel_filterbank(n_fft=N_FFT, n_mels=N_MELS, sr=SR, fmin=20.0, fmax=7600.0):
    def hz2mel(f):
        return 2595.0 * np.log10(1.0 + f / 700.0)

    def mel2hz(m):
        return 700.0 * (10 ** (m / 2595.0) - 1.0)

    freqs = np.linspace(0, sr / 2, n_fft // 2 + 1)
    mels = np.linspace(hz2mel(fmin), hz2mel(fmax), n_mels + 2)
    hz = mel2hz(mels)
    fb = np.zeros((n_mels, freqs.size), np.float32)
    for m in range(n_mels):
        lo, c, hi = hz[m], hz[m + 1], hz[m + 2]
        up = (freqs - lo) / (c - lo)
        down = (hi - freqs) / (hi - c)
        fb[m] = np.maximum(0.0, np.minimum(up, down))
    return torch.from_numpy(fb)  # [n_mels, n_fft//2+1]


class LogMel(nn.Module):
    def __init__(self):
        super().__init__()
        win = torch.hann_window(WIN, periodic=True)
        self.register_buffer("window", win)
        self.register_buffer("fb", mel_filterbank())
        self.n_fft = N_FFT
        self.hop = HOP
        self.win = WIN

    def forward(self, waveform: torch.Tensor) -> torch.Tensor:
        x = waveform.float()
        x = torch.nan_to_num(x, nan=0.0, posinf=1.0, neginf=-1.0).clamp(-1e4, 1e4)
        x = x - x.mean(dim=1, keepdim=True)
        x = torch.cat([x[:, :1], x[:, 1:] - 0.97 * x[:, :-1]], dim=1)  # pre-emphasis
        spec = torch.stft(x, n_fft=self.n_fft, hop_length=self.hop, win_length=self.win,
                          window=self.window,
                          center=True, pad_mode="reflect", return_complex=True)
        power = spec.real * spec.real + spec.imag * spec.imag  # [B, F, T]
        mel = torch.matmul(self.fb, power)  # [B, M, T]
        # floor relative to the utterance peak (gain-invariant; silence -> flat -> zeros)
        peak = mel.amax(dim=(1, 2), keepdim=True)
        lm = torch.log(mel + peak * 1e-6 + 1e-10)
        mu = lm.mean(dim=(1, 2), keepdim=True)
        sd = lm.std(dim=(1, 2), keepdim=True)
        return ((lm - mu) / (sd + 1e-3)).unsqueeze(1)  # [B, 1, M, T]


def conv_block(cin, cout, stride=1):
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False), nn.BatchNorm2d(cout),
                         nn.ReLU(inplace=True))


class DigitCNN(nn.Module):
    def __init__(self, w=16):
        super().__init__()
        self.body = nn.Sequential(
            conv_block(1, w, 2), nn.MaxPool2d(2),         # 40x101 -> 20x51 -> 10x25
            conv_block(w, 2 * w), nn.MaxPool2d(2),        # -> 5x12
            conv_block(2 * w, 4 * w),
            conv_block(4 * w, 4 * w),
        )
        self.drop = nn.Dropout(0.2)
        self.fc = nn.Linear(8 * w, 10)

    def forward(self, feats: torch.Tensor) -> torch.Tensor:
        h = self.body(feats)
        h = torch.cat([h.mean(dim=(2, 3)), h.amax(dim=(2, 3))], dim=1)
        return self.fc(self.drop(h))


class SpeechDigits(nn.Module):
    """waveform FP32 [B,16000] -> probabilities FP32 [B,10]"""

    def __init__(self, cnn):
        super().__init__()
        self.features = LogMel()
        self.cnn = cnn

    def forward(self, waveform: torch.Tensor) -> torch.Tensor:
        # Input contract (models/CONVENTIONS.md): ValueError -> INVALID_ARGUMENT with this message.
        if not bool(torch.isfinite(waveform).all()):
            raise ValueError("waveform holds NaN or infinite samples")
        centred = waveform - waveform.mean(dim=1, keepdim=True)
        peak = centred.abs().amax(dim=1)
        for b in range(waveform.shape[0]):
            if float(peak[b]) < 1e-3:
                raise ValueError("waveform row {} is silent (peak {} below 1e-3 of full scale): "
                                 "send 1 s of 16 kHz speech in [-1, 1]".format(b, float(peak[b])))
        return torch.softmax(self.cnn(self.features(waveform)), dim=1)


# --------------------------------------------------------------------------- training

def features(fe, wave, bs=512):
    outs = []
    with torch.no_grad():
        for i in range(0, len(wave), bs):
            outs.append(fe(torch.from_numpy(wave[i:i + bs])))
    return torch.cat(outs)


def predict(model, wave, bs=256):
    outs = []
    with torch.no_grad():
        for i in range(0, len(wave), bs):
            outs.append(model(torch.from_numpy(wave[i:i + bs])))
    return torch.cat(outs).numpy()


def file_digest(paths, extra=b""):
    h = hashlib.sha256(extra)
    for p in sorted(paths):
        with open(p, "rb") as f:
            h.update(hashlib.sha256(f.read()).digest())
    return h.hexdigest()[:16]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--eval", required=True)
    ap.add_argument("--cache", required=True)
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--copies", type=int, default=1, help="augmented copies of each clip")
    args = ap.parse_args()
    t_start = time.time()
    torch.set_num_threads(2)
    torch.manual_seed(0)
    for tool in ("espeak-ng", "flite", "sox"):
        if shutil.which(tool) is None:
            raise SystemExit(f"{tool} not found: install the Debian packages in "
                             f"models/{NAME}/debian-packages")
    os.makedirs(args.cache, exist_ok=True)

    groups = synthesize(args.cache)
    tr_clips, tr_y, _ = gather(groups["train"] + groups["flite_train"])
    ho_clips, ho_y, ho_v = gather(groups["heldout"])
    fl_clips, fl_y, _ = gather(groups["flite_heldout"])
    log(f"clips: train {len(tr_clips)}, held-out espeak {len(ho_clips)} "
        f"({len(groups['heldout'])} voices), held-out flite {len(fl_clips)}")

    # held-out evaluation sets (fixed seed, milder noise range than training)
    rng = np.random.RandomState(1234)
    ho_wave = augment(ho_clips, rng, snr_db=(15.0, 40.0), gain_db=(-20.0, 0.0), noise_prob=0.5)
    fl_wave = augment(fl_clips, rng, snr_db=(15.0, 40.0), gain_db=(-20.0, 0.0), noise_prob=0.5)
    assert len(ho_wave) <= 500

    with open(os.path.abspath(__file__), "rb") as f:
        script = f.read()
    key = file_digest(groups["train"] + groups["flite_train"], script + b"|" +
                      f"{args.epochs},{args.copies}".encode())
    ckpt = os.path.join(args.cache, f"trained-{key}.pt")

    fe = LogMel()
    cnn = DigitCNN()
    if os.path.exists(ckpt):
        state = torch.load(ckpt)
        cnn.load_state_dict(state["cnn"])
        info = state["info"]
        log(f"trained weights cached ({os.path.basename(ckpt)})")
    else:
        t0 = time.time()
        rng = np.random.RandomState(0)
        feats, ys = [], []
        for k in range(args.copies):
            feats.append(features(fe, augment(tr_clips, rng, clip_prob=0.1)))
            ys.append(torch.from_numpy(tr_y))
        X = torch.cat(feats)
        Y = torch.cat(ys)
        log(f"features {tuple(X.shape)} in {time.time() - t0:.1f} s")
        # baseline: nearest centroid on the time-averaged normalized log-mel
        cents = torch.stack([X[Y == c].mean(dim=(0, 1, 3)) for c in range(10)])  # [10, M]
        ho_X = features(fe, ho_wave)
        ho_Y = torch.from_numpy(ho_y)
        hom = ho_X.mean(dim=(1, 3))  # [N, M]
        base_acc = float((torch.cdist(hom, cents).argmin(1) == ho_Y).float().mean())
        log(f"baseline (nearest centroid on mean log-mel) held-out acc {base_acc:.4f}")
        c0 = time.process_time()
        opt = torch.optim.AdamW(cnn.parameters(), lr=3e-3, weight_decay=1e-3)
        bs = 128
        steps = args.epochs * ((len(X) + bs - 1) // bs)
        sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=4e-3, total_steps=steps,
                                                    pct_start=0.2)
        g = torch.Generator().manual_seed(0)
        T = X.shape[-1]
        for ep in range(args.epochs):
            cnn.train()
            perm = torch.randperm(len(X), generator=g)
            tot, correct, n = 0.0, 0, 0
            for i in range(0, len(X), bs):
                idx = perm[i:i + bs]
                xb, yb = X[idx], Y[idx]
                # cheap feature-domain augmentation: random circular time roll + freq mask
                sh = int(torch.randint(-10, 11, (1,), generator=g))
                xb = torch.roll(xb, sh, dims=3)
                f0 = int(torch.randint(0, N_MELS - 6, (1,), generator=g))
                # vocal-tract-length-like warp: stretch/squeeze the mel axis by a random factor
                a = 0.85 + 0.3 * float(torch.rand(1, generator=g))
                m2 = int(round(N_MELS * a))
                xr = F.interpolate(xb, size=(m2, T), mode="bilinear", align_corners=False)
                if m2 >= N_MELS:
                    xb = xr[:, :, :N_MELS].contiguous()
                else:
                    xb = torch.cat([xr, xr[:, :, -1:].expand(-1, -1, N_MELS - m2, -1)], dim=2)
                xb[:, :, f0:f0 + int(torch.randint(0, 6, (1,), generator=g))] = 0.0
                logits = cnn(xb)
                loss = F.cross_entropy(logits, yb, label_smoothing=0.05)
                opt.zero_grad()
                loss.backward()
                opt.step()
                sched.step()
                tot += float(loss) * len(idx)
                correct += int((logits.argmax(1) == yb).sum())
                n += len(idx)
            cnn.eval()
            with torch.no_grad():
                acc = float((cnn(ho_X).argmax(1) == ho_Y).float().mean())
            log(f"epoch {ep + 1}/{args.epochs} loss {tot / n:.4f} train acc {correct / n:.4f} "
                f"held-out espeak acc {acc:.4f} ({time.time() - t0:.0f} s, "
                f"cpu {time.process_time() - c0:.0f} s)")
        info = {"train_seconds": round(time.time() - t0, 1),
                "train_cpu_seconds": round(time.process_time() - c0, 1), "train_samples": int(len(X)),
                "train_clips": len(tr_clips), "baseline_value": base_acc}
        torch.save({"cnn": cnn.state_dict(), "info": info}, ckpt + ".tmp")
        os.replace(ckpt + ".tmp", ckpt)
        for old in os.listdir(args.cache):  # weights of older scripts/data
            if old.startswith("trained-") and old != os.path.basename(ckpt):
                os.remove(os.path.join(args.cache, old))
    cnn.eval()

    model = SpeechDigits(cnn).eval()
    scripted = torch.jit.script(model)
    os.makedirs(os.path.join(args.out, "1"), exist_ok=True)
    scripted.save(os.path.join(args.out, "1", "model.pt"))
    shutil.copy(os.path.join(HERE, "config.pbtxt"), os.path.join(args.out, "config.pbtxt"))
    shutil.copy(os.path.join(HERE, "labels.txt"), os.path.join(args.out, "labels.txt"))

    # evaluate the exported module itself
    loaded = torch.jit.load(os.path.join(args.out, "1", "model.pt"))
    ho_p = predict(loaded, ho_wave)
    fl_p = predict(loaded, fl_wave)
    ho_acc = float((ho_p.argmax(1) == ho_y).mean())
    fl_acc = float((fl_p.argmax(1) == fl_y).mean())
    per_voice = {}
    names = [os.path.basename(p)[len("espeak_"):-4] for p in groups["heldout"]]
    for vi, nm in enumerate(names):
        m = ho_v == vi
        per_voice[nm] = float((ho_p[m].argmax(1) == ho_y[m]).mean())
    worst = sorted(per_voice.items(), key=lambda kv: kv[1])[:5]

    base_acc = info["baseline_value"]

    log(f"held-out espeak voices ({len(groups['heldout'])} voices, {len(ho_y)} clips): "
        f"accuracy {ho_acc:.4f}; worst voices {worst}")
    log(f"held-out flite voice {HELDOUT_FLITE} ({len(fl_y)} clips): accuracy {fl_acc:.4f}")
    log(f"baseline (nearest centroid, mean log-mel): {base_acc:.4f}")

    os.makedirs(args.eval, exist_ok=True)
    np.save(os.path.join(args.eval, "waveform.npy"), np.ascontiguousarray(ho_wave, "<f4"))
    np.save(os.path.join(args.eval, "labels.npy"), ho_y.astype("<i8"))
    np.save(os.path.join(args.eval, "flite_waveform.npy"), np.ascontiguousarray(fl_wave, "<f4"))
    np.save(os.path.join(args.eval, "flite_labels.npy"), fl_y.astype("<i8"))
    spec = {"model": NAME, "count": int(len(ho_y)), "inputs": {"waveform": "waveform.npy"},
            "metric": "accuracy", "output": "probabilities", "labels": "labels.npy",
            "min": 0.95}
    with open(os.path.join(args.eval, "spec.json"), "w") as f:
        json.dump(spec, f, indent=1)

    synth_seconds = None
    if os.path.exists(groups["synthesis_info"]):
        with open(groups["synthesis_info"]) as f:
            synth_seconds = json.load(f)["synthesis_seconds"]
    n_params = sum(p.numel() for p in cnn.parameters())
    metrics = {
        "task": "spoken digit recognition (zero..nine), 1 s of 16 kHz mono audio",
        "data_source": "synthesized at build time: espeak-ng (8 English accents x "
                       f"{len(espeak_variants())} voice variants, random speed/pitch) and flite "
                       f"voices {FLITE_TRAIN} (speed/pitch settings, sox pitch shifts), resampled "
                       "to 16 kHz with sox; augmented with time shift, gain, white noise and occasional hard clipping; "
                       "mel-axis warping during training",
        "licence": "synthetic audio; tools: espeak-ng GPL-3.0-or-later, flite BSD-style (CMU "
                   "Flite licence), sox GPL-2.0-or-later/LGPL",
        "train_samples": int(info["train_samples"]),
        "train_clips": int(info["train_clips"]),
        "heldout_samples": int(len(ho_y)),
        "heldout_voices": f"espeak-ng variants {HELDOUT_VARIANTS} x {len(ACCENTS)} accents "
                          "(never seen in training)",
        "architecture": "in-graph pre-emphasis + STFT (n_fft 512, 25 ms Hann, 10 ms hop) + "
                        f"{N_MELS}-band log-mel + per-utterance normalization; CNN 4x "
                        "(conv3x3-BN-ReLU) 16(stride 2)-32-64-64 with max pooling, mean+max global pooling, "
                        "linear 128->10, softmax",
        "parameters": int(n_params),
        "metric": "accuracy",
        "value": round(ho_acc, 4),
        "baseline": "nearest centroid on time-averaged log-mel",
        "baseline_value": round(base_acc, 4),
        "train_seconds": info["train_seconds"],
        "flite_heldout_voice": HELDOUT_FLITE,
        "flite_heldout_samples": int(len(fl_y)),
        "flite_heldout_accuracy": round(fl_acc, 4),
        "heldout_worst_voices": {k: round(v, 3) for k, v in worst},
        "train_cpu_seconds": info["train_cpu_seconds"],
        "synthesis_seconds": synth_seconds,
        "run_seconds": round(time.time() - t_start, 1),
    }
    with open(os.path.join(args.out, "metrics.json"), "w") as f:
        json.dump(metrics, f, indent=1)
    log(f"done in {time.time() - t_start:.1f} s -> {args.out}")


if __name__ == "__main__":
    main()
