#!/usr/bin/env python3
"""gen-captions.py — writes the SYNTHETIC COCO-style caption files shipped in
datasets/vlm-quantize-calib/ (coco2017_captions_{small,medium,large}.txt).

The captions come from a small hand-written grammar of everyday scenes
("A man riding a wave on top of a surfboard."), drawn with a seeded
random.Random, so the output is byte-identical on every run and Python >= 3.2.
They are NOT real COCO captions: real ones are the user's data and go at the
same paths. The files are plain UTF-8, one caption per line, no blank lines.

usage: scripts/gen-captions.py [--out DIR] [--check]
  --check  regenerate in memory and fail if the files in DIR differ
"""
import argparse
import os
import random
import sys

SIZES = {"small": 512, "medium": 2048, "large": 8192}
SEED = 20170101  # + index of the size, so the files differ

PEOPLE = ["man", "woman", "boy", "girl", "young man", "little girl", "child", "person",
          "skateboarder", "surfer", "tennis player", "baseball player", "chef", "couple",
          "group of people", "man in a suit", "woman in a red dress", "skier", "snowboarder"]
ANIMALS = ["dog", "cat", "horse", "giraffe", "zebra", "elephant", "bear", "cow", "sheep",
           "bird", "black and white cat", "brown dog", "large elephant", "teddy bear"]
THINGS = ["pizza", "sandwich", "plate of food", "bowl of fruit", "laptop", "cell phone",
          "red fire hydrant", "stop sign", "clock tower", "bicycle", "motorcycle", "bus",
          "train", "truck", "kite", "umbrella", "vase of flowers", "cake", "hot dog",
          "traffic light", "bench", "toilet", "refrigerator", "surfboard", "frisbee"]
PLACES = ["on a beach", "in a field", "on a city street", "in a kitchen", "in a living room",
          "next to a building", "on the side of a road", "in the snow", "in the water",
          "at a park", "on a grassy hill", "in front of a house", "at the train station",
          "near a lake", "in a small bathroom", "on a busy sidewalk", "under a blue sky",
          "at night", "in a parking lot", "on a tennis court", "in a zoo enclosure"]
ACTIONS = ["riding a wave on top of a surfboard", "holding a tennis racket",
           "throwing a frisbee", "flying a kite", "eating a slice of pizza",
           "riding a skateboard down a ramp", "swinging a baseball bat", "talking on a cell phone",
           "sitting on a bench", "walking down the street", "standing next to a horse",
           "cutting a cake", "looking at a laptop", "carrying an umbrella",
           "skiing down a snowy slope", "riding a bike", "playing with a dog",
           "preparing food", "waiting for the bus", "brushing their teeth"]
ANIMAL_ACTIONS = ["standing", "grazing", "laying down", "sleeping", "walking", "eating grass",
                  "drinking water", "looking at the camera", "sitting", "running"]
SURFACES = ["table", "wooden table", "counter", "desk", "white plate", "shelf", "bed", "couch"]
COLORS = ["red", "blue", "green", "yellow", "white", "black", "large", "small", "old", "colorful"]
NUMBERS = ["Two", "Three", "Several", "A few", "Many", "A group of", "A herd of", "A couple of"]
PLURAL = {"dog": "dogs", "cat": "cats", "horse": "horses", "giraffe": "giraffes",
          "zebra": "zebras", "elephant": "elephants", "bear": "bears", "cow": "cows",
          "sheep": "sheep", "bird": "birds"}


def article(word):
    return "An" if word[0] in "aeiou" else "A"


def caption(r):
    k = r.randrange(9)
    if k == 0:
        p = r.choice(PEOPLE)
        s = f"{article(p)} {p} {r.choice(ACTIONS)} {r.choice(PLACES)}."
    elif k == 1:
        p = r.choice(PEOPLE)
        s = f"{article(p)} {p} is {r.choice(ACTIONS)}."
    elif k == 2:
        a = r.choice(ANIMALS)
        s = f"{article(a)} {a} {r.choice(ANIMAL_ACTIONS)} {r.choice(PLACES)}."
    elif k == 3:
        a = r.choice(sorted(PLURAL))
        s = f"{r.choice(NUMBERS)} {PLURAL[a]} {r.choice(ANIMAL_ACTIONS)} {r.choice(PLACES)}."
    elif k == 4:
        t = r.choice(THINGS)
        s = f"{article(t)} {t} sitting on top of a {r.choice(SURFACES)}."
    elif k == 5:
        c, t = r.choice(COLORS), r.choice(THINGS)
        s = f"{article(c)} {c} {t} {r.choice(PLACES)}."
    elif k == 6:
        t = r.choice(THINGS)
        s = f"A close up of a {t} on a {r.choice(SURFACES)}."
    elif k == 7:
        p, t = r.choice(PEOPLE), r.choice(THINGS)
        s = f"There is a {p} standing next to a {t} {r.choice(PLACES)}"
    else:
        p, a = r.choice(PEOPLE), r.choice(ANIMALS)
        s = f"{article(p)} {p} and a {a} {r.choice(PLACES)}."
    if r.random() < 0.15:  # COCO captions are not always capitalized or punctuated
        s = s[0].lower() + s[1:]
    if r.random() < 0.1:
        s = s.rstrip(".")
    return s


def generate(size):
    r = random.Random(SEED + list(SIZES).index(size))
    return "".join(caption(r) + "\n" for _ in range(SIZES[size]))


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=os.path.join(here, "..", "datasets", "vlm-quantize-calib"))
    ap.add_argument("--check", action="store_true")
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    bad = 0
    for size in SIZES:
        path = os.path.join(args.out, f"coco2017_captions_{size}.txt")
        text = generate(size)
        if args.check:
            with open(path, encoding="utf-8") as f:
                if f.read() != text:
                    print(f"gen-captions: {path} differs from the generator's output", file=sys.stderr)
                    bad += 1
            continue
        tmp = f"{path}.tmp.{os.getpid()}"
        with open(tmp, "w", encoding="utf-8", newline="\n") as f:
            f.write(text)
        os.replace(tmp, path)
        print(f"gen-captions: wrote {path} ({SIZES[size]} lines, {len(text.encode())} bytes)")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
