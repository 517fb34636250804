"""A clean training folder from folders of photographs: resized, de-duplicated, split by file.

`prepare_photos` is what `tools/prepare_photos.py` runs. It reads every image under the given
inputs (folders searched recursively, or "samples" for scikit-image's bundled photos; Qt
resource files found there add the photographs they hold, by the rule of `qt_resources`, as
"RESOURCE_FILE::MEMBER" sources), drops
what the user excludes by pattern, images too small to crop from, and near-duplicates (the same
wallpaper at several resolutions or in a dark variant), resizes the short side of each kept
image to `short_side` (never up), and writes them as PNG into `OUTPUT/train/` and
`OUTPUT/val/`. The split is fixed by file: it depends only on the file names and the seed, so
the same inputs always give the same validation photos, and no photo appears in both.

`OUTPUT/manifest.json` lists every source file (kept or dropped, with the reason), its SHA-256,
the Debian package it came from and its licence field, and the settings. Licences are read
from the files that ship beside the images: a KDE wallpaper package's `metadata.json`
(`KPlugin.License`) or `metadata.desktop` (`X-KDE-PluginInfo-License`), otherwise the
machine-readable Debian `usr/share/doc/PACKAGE/copyright` file of the `dpkg -x` tree the image
lies in (the last `Files:` stanza whose pattern matches, as DEP-5 says).

Near-duplicates: images inside one KDE wallpaper package (`NAME/contents/images*/`) are one
picture at several sizes, so one group; across groups, images whose difference hash (64 bits
of the central square at 9x8 gray) differ in at most `dedup_distance` bits, and whose 32x32
gray thumbnails differ by at most 8 grey levels on average, are merged. Each
group keeps its largest image.

Example:
```python
from tfinpaint.data import photos
manifest = photos.prepare_photos(["/tmp/wallpapers/usr/share", "samples"], "data/photos")
```
"""

import fnmatch
import hashlib
import json
import logging
import os
import re

import cv2
import numpy as np

from tfinpaint.data import image_files, imageio, qt_resources, sources
from tfinpaint.files import check_writable, write_json

__all__ = ["prepare_photos", "licence_of", "difference_hash"]

_KDE_PACKAGE = re.compile(r"^(.*)/contents/images[^/]*/[^/]+$")
# Mean absolute difference (0-255 gray) of 32x32 thumbnails below which a hash match stands.
_THUMBNAIL_TOLERANCE = 8.0
logger = logging.getLogger(__name__)
_SAMPLES_LICENCE = "scikit-image sample data (per-image notes in skimage/data/_fetchers.py)"


def _central_square(image):
    height, width = image.shape[:2]
    side = min(height, width)
    y0, x0 = (height - side) // 2, (width - side) // 2
    return np.ascontiguousarray(image[y0 : y0 + side, x0 : x0 + side])


def _thumbnail(image):
    """The central square as 32x32 gray float, for confirming a hash match."""
    gray = cv2.cvtColor(_central_square(image), cv2.COLOR_RGB2GRAY)
    return cv2.resize(gray, (32, 32), interpolation=cv2.INTER_AREA).astype(np.float32)


def difference_hash(image):
    """A 64-bit difference hash of the central square of an (H, W, 3) uint8 image.

    The central square, resized to 9x8 gray with area averaging; bit (y, x) is whether pixel
    (y, x + 1) is brighter than (y, x). Resized copies of one picture hash alike; different
    pictures differ in about half the bits.
    """
    gray = cv2.cvtColor(_central_square(image), cv2.COLOR_RGB2GRAY)
    small = cv2.resize(gray, (9, 8), interpolation=cv2.INTER_AREA).astype(np.int16)
    bits = (small[:, 1:] > small[:, :-1]).ravel()
    return int("".join("1" if bit else "0" for bit in bits), 2)


def _parse_debian_copyright(path):
    """(patterns, licence) stanzas of a DEP-5 copyright file, in file order."""
    stanzas, current, key = [], {}, None
    with open(path, encoding="utf-8", errors="replace") as copyright_file:
        for line in copyright_file:
            line = line.rstrip("\n")
            if not line.strip():
                if current:
                    stanzas.append(current)
                current, key = {}, None
                continue
            if line[0] in " \t" and key:
                current[key] += " " + line.strip()
                continue
            key, _, value = line.partition(":")
            key = key.strip().lower()
            current[key] = value.strip()
    if current:
        stanzas.append(current)
    return [
        (stanza["files"].split(), stanza.get("license", "").split("\n")[0].strip())
        for stanza in stanzas
        if "files" in stanza
    ]


def _kde_licence(folder):
    metadata_json = os.path.join(folder, "metadata.json")
    if os.path.isfile(metadata_json):
        with open(metadata_json, encoding="utf-8") as metadata_file:
            licence = json.load(metadata_file).get("KPlugin", {}).get("License")
        if licence:
            return licence
    metadata_desktop = os.path.join(folder, "metadata.desktop")
    if os.path.isfile(metadata_desktop):
        with open(metadata_desktop, encoding="utf-8", errors="replace") as metadata_file:
            for line in metadata_file:
                if line.startswith("X-KDE-PluginInfo-License="):
                    return line.split("=", 1)[1].strip()
    return None


def _free_form_licence(copyright_path, path):
    """The "Licensed under ..." line after the image's name in a free-form copyright file."""
    stem = re.split(r"[-_.]", os.path.basename(path))[0].lower()
    lines = open(copyright_path, encoding="utf-8", errors="replace").read().splitlines()
    for index, line in enumerate(lines):
        if line.strip().startswith("- ") and stem and stem in line.lower():
            for following in lines[index + 1 : index + 30]:
                match = re.search(r"Licen[cs]ed under (.+?)\.?$", following.strip())
                if match:
                    return match.group(1)
    return None


def licence_of(path, member=None):
    """(package, licence) of an image file from the metadata that ships beside it.

    Args:
        path: str. An image file, typically inside a `dpkg -x` tree (one tree per package
            names the package without doubt), or the Qt resource file that holds it.
        member: str or None. The picture's path inside the resource file `path`
            ("/gcompris/src/activities/..."); the copyright file's patterns are matched
            against its source-tree path ("src/activities/...").

    Returns:
        (package, licence): the Debian package (the `usr/share/doc/PACKAGE/copyright` whose
        `Files:` pattern matched, or the only package of the tree; None if unknown) and the
        licence: a KDE wallpaper's own metadata first, then the machine-readable copyright
        file's matching stanza, then the "Licensed under" line under the image's name in a
        free-form copyright file, else a pointer to that file, else "unknown".
    """
    path = os.path.abspath(path)
    match = _KDE_PACKAGE.match(path)
    licence = _kde_licence(match.group(1)) if match else None
    folder = os.path.dirname(path)
    while os.path.dirname(folder) != folder:
        doc = os.path.join(folder, "usr", "share", "doc")
        if os.path.isdir(doc):
            break
        folder = os.path.dirname(folder)
    else:
        return None, licence or "unknown"
    relative = os.path.relpath(path, folder)
    if member is not None:
        relative = qt_resources.copyright_relative(member)
    packages = sorted(
        name for name in os.listdir(doc) if os.path.isfile(os.path.join(doc, name, "copyright"))
    )
    fallback = None
    for package in packages:
        copyright_path = os.path.join(doc, package, "copyright")
        with open(copyright_path, encoding="utf-8", errors="replace") as copyright_file:
            machine_readable = copyright_file.readline().startswith("Format:")
        if not machine_readable:
            if len(packages) == 1:
                found = _free_form_licence(copyright_path, path)
                note = f"see usr/share/doc/{package}/copyright"
                return package, licence or (f"{found} ({note})" if found else note)
            continue
        specific, default = None, None
        for patterns, stanza_licence in _parse_debian_copyright(copyright_path):
            if patterns == ["*"]:
                default = stanza_licence
            elif any(fnmatch.fnmatch(relative, pattern) for pattern in patterns):
                specific = stanza_licence
        if specific is not None:
            return package, licence or specific
        if default is not None and len(packages) == 1:
            fallback = (package, default)
    if fallback:
        return fallback[0], licence or fallback[1]
    return None, licence or "unknown"


_MEMBER = "::"  # "RESOURCE_FILE::/member/path": a picture inside a Qt resource file.


class _NotAPhotograph(ValueError):
    pass


def _split_member(path):
    rcc_path, _, member = path.partition(_MEMBER)
    return rcc_path, (member or None)


def _read_picture(path, blobs):
    """RGB uint8 of a file, or of a resource-file member whose bytes are in `blobs`."""
    if path not in blobs:
        return sources.read_image(path)
    image = cv2.imdecode(np.frombuffer(blobs[path], np.uint8), cv2.IMREAD_UNCHANGED)
    if image is None:
        raise ValueError("not a decodable image")
    if image.ndim == 2:
        return cv2.cvtColor(image, cv2.COLOR_GRAY2RGB)
    if image.shape[2] == 4:
        if image[..., 3].min() < 255:
            raise _NotAPhotograph("transparent pixels: a cut-out or a drawing")
        image = image[..., :3]
    if image.dtype != np.uint8:
        raise ValueError(f"{image.dtype} pixels; expected 8-bit")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def _resource_members(rcc_path, source, blobs):
    """The photograph candidates of a Qt resource file (see `qt_resources`)."""
    found = []
    for member, content in qt_resources.read_rcc(rcc_path):
        if qt_resources.is_gcompris_photo_member(member):
            path = os.path.abspath(rcc_path) + _MEMBER + member
            blobs[path] = content
            found.append((source, path, os.path.relpath(rcc_path, source) + _MEMBER + member))
    return found


def _list_inputs(inputs, blobs):
    """[(input, path, path relative to its input)] of every image of the inputs.

    Qt resource files (`*.rcc`) under an input add the photographs they hold (see
    `qt_resources`), as "RESOURCE_FILE::MEMBER" paths whose bytes go into `blobs`.
    """
    found = []
    for source in inputs:
        if source == "samples":
            for path in sources.list_image_files("samples"):
                found.append((source, path, os.path.basename(path)))
            continue
        if not os.path.isdir(source):
            raise ValueError(
                f"Input {source!r} is not a folder; expected folders of images or 'samples'."
            )
        paths, members = [], []
        for root, dirs, files in os.walk(source):
            dirs.sort()
            paths.extend(
                os.path.join(root, name)
                for name in sorted(files)
                if name.lower().endswith(sources.IMAGE_EXTENSIONS)
            )
            for name in sorted(files):
                if name.lower().endswith(".rcc"):
                    members.extend(_resource_members(os.path.join(root, name), source, blobs))
        if not paths and not members:
            raise ValueError(f"No images found in folder {source} (searched recursively).")
        for path in paths:
            found.append((source, os.path.abspath(path), os.path.relpath(path, source)))
        found.extend(members)
    return found


def _output_name(relative, used):
    match = _KDE_PACKAGE.match("/" + relative)
    stem = match.group(1) if match else os.path.splitext("/" + relative)[0]
    if _MEMBER in relative:  # gcompris/ACTIVITY/PICTURE.
        member = _split_member(relative)[1]
        picture = os.path.splitext(os.path.basename(member))[0]
        stem = f"gcompris/{qt_resources.gcompris_activity(member)}/{picture}"
    name = re.sub(r"[^A-Za-z0-9]+", "_", stem.split("/usr/share/")[-1]).strip("_").lower()
    name = name.replace("wallpapers_", "").replace("backgrounds_", "") or "image"
    candidate, index = name, 1
    while candidate in used:
        index += 1
        candidate = f"{name}_{index}"
    used.add(candidate)
    return candidate + ".png"


def _is_validation(name, seed, val_fraction):
    digest = hashlib.sha256(f"{seed}:{name}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2.0**64 < val_fraction


def prepare_photos(
    inputs,
    output,
    short_side=384,
    val_fraction=0.2,
    seed=0,
    min_short_side=256,
    dedup_distance=6,
    exclude=(),
    train_only=(),
    min_contrast=4.0,
    progress=print,
):
    """Writes a clean training folder (see the module docstring) and returns its manifest.

    Args:
        inputs: list of str. Folders (searched recursively) or "samples".
        output: str. A new or empty folder; `train/`, `val/` and `manifest.json` go in it.
        short_side: int. Kept images are resized (down only) to this short side.
        val_fraction: float in [0, 1). Expected share of kept pictures in `val/`, chosen from a
            hash of the output file name and the seed.
        seed: int. Seed of the split.
        min_short_side: int. Images whose short side is smaller are dropped.
        dedup_distance: int. Difference hashes at most this many bits apart are one picture
            (-1 turns the hash comparison off; KDE packages are still grouped).
        exclude: iterable of fnmatch patterns on the path relative to its input (e.g.
            "*/screenshot.*"); matching files are dropped.
        train_only: iterable of fnmatch patterns (as `exclude`); matching pictures always go to
            `train/` (e.g. digital art, so that the validation photos are all photographs).
        min_contrast: float. Images whose gray standard deviation (0-255) is below this are
            dropped as flat (solid-colour wallpapers teach nothing).
        progress: callable taking a line of text, or None.

    Returns:
        The manifest dict that was written to `OUTPUT/manifest.json`.

    Raises:
        ValueError: bad settings, an input that is not a folder, a non-empty output, or no
            image left to write.
    """
    if not inputs:
        raise ValueError("No inputs given; expected at least one folder of images or 'samples'.")
    if not 0.0 <= val_fraction < 1.0:
        raise ValueError(f"Received val_fraction={val_fraction}; expected a number in [0, 1).")
    if short_side < 16 or min_short_side < 1:
        raise ValueError(
            f"Received short_side={short_side}, min_short_side={min_short_side}; expected "
            "short_side >= 16 and min_short_side >= 1."
        )
    if os.path.exists(output) and (not os.path.isdir(output) or os.listdir(output)):
        raise ValueError(f"Output {output} exists and is not an empty folder; choose a new one.")
    check_writable(output, "--output")
    blobs = {}
    candidates = _list_inputs(inputs, blobs)
    entries, dropped = [], []
    for source, path, relative in candidates:
        if any(fnmatch.fnmatch(relative, pattern) for pattern in exclude):
            dropped.append({"source": path, "reason": "excluded by pattern"})
            continue
        try:
            # The gate refuses FIFOs, devices and sockets by what they are (a FIFO named
            # x.png would otherwise block here forever) and images past the pixel limit.
            image = _read_picture(path, blobs)
        except _NotAPhotograph as error:
            dropped.append({"source": path, "reason": f"not a photograph: {error}"})
            continue
        except (ValueError, OSError) as error:
            if path not in blobs and not image_files.is_regular_file(path):
                logger.warning("Skipping %s: %s", path, error)
            dropped.append({"source": path, "reason": f"unreadable: {error}"})
            continue
        height, width = image.shape[:2]
        if min(height, width) < min_short_side:
            dropped.append(
                {"source": path, "reason": f"short side {min(height, width)} < {min_short_side}"}
            )
            continue
        contrast = float(cv2.cvtColor(image, cv2.COLOR_RGB2GRAY).std())
        if contrast < min_contrast:
            dropped.append(
                {"source": path, "reason": f"flat: gray std {contrast:.1f} < {min_contrast}"}
            )
            continue
        match = _KDE_PACKAGE.match(path)
        entries.append(
            {
                "path": path,
                "relative": relative,
                "source": source,
                "group": match.group(1) if match else path,
                "hash": difference_hash(image),
                "thumbnail": _thumbnail(image),
                "pixels": height * width,
                "size": [height, width],
            }
        )
    # Union-find over KDE packages and close difference hashes.
    parent = list(range(len(entries)))

    def find(index):
        while parent[index] != index:
            parent[index] = parent[parent[index]]
            index = parent[index]
        return index

    first_of_group = {}
    for index, entry in enumerate(entries):
        if entry["group"] in first_of_group:
            parent[find(index)] = find(first_of_group[entry["group"]])
        first_of_group.setdefault(entry["group"], index)
        if dedup_distance >= 0:
            for other in range(index):
                close_hash = (
                    bin(entry["hash"] ^ entries[other]["hash"]).count("1") <= dedup_distance
                )
                # Smooth pictures have near-random hash bits: confirm on the thumbnails.
                if close_hash and (
                    np.abs(entry["thumbnail"] - entries[other]["thumbnail"]).mean()
                    <= _THUMBNAIL_TOLERANCE
                ):
                    parent[find(index)] = find(other)
    groups = {}
    for index in range(len(entries)):
        groups.setdefault(find(index), []).append(index)
    kept = []
    for members in groups.values():
        # The largest; among equal sizes a real file before the symlinks KDE packages hold.
        best = max(
            members,
            key=lambda i: (
                entries[i]["pixels"],
                not os.path.islink(entries[i]["path"]),
                entries[i]["path"],
            ),
        )
        kept.append(entries[best])
        for other in members:
            if other != best:
                dropped.append(
                    {
                        "source": entries[other]["path"],
                        "reason": f"duplicate of {entries[best]['path']}",
                    }
                )
    if not kept:
        raise ValueError(
            f"No image left to write from {len(candidates)} files (all excluded, unreadable, "
            f"smaller than {min_short_side} px or duplicates)."
        )
    kept.sort(key=lambda entry: entry["path"])
    used, files = set(), []
    for number, entry in enumerate(kept, 1):
        name = _output_name(entry["relative"], used)
        forced = any(fnmatch.fnmatch(entry["relative"], pattern) for pattern in train_only)
        split = "val" if not forced and _is_validation(name, seed, val_fraction) else "train"
        image = _read_picture(entry["path"], blobs)
        height, width = image.shape[:2]
        scale = short_side / min(height, width)
        if scale < 1.0:
            size = (max(1, round(width * scale)), max(1, round(height * scale)))
            image = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
        destination = os.path.join(output, split, name)
        imageio.write_image(destination, image, overwrite=False)
        if entry["path"] in blobs:
            digest = hashlib.sha256(blobs[entry["path"]]).hexdigest()
        else:
            with open(entry["path"], "rb") as source_file:
                digest = hashlib.sha256(source_file.read()).hexdigest()
        if entry["source"] == "samples":
            package, licence = "scikit-image", _SAMPLES_LICENCE
        else:
            package, licence = licence_of(*_split_member(entry["path"]))
        files.append(
            {
                "output": os.path.join(split, name),
                "split": split,
                "source": entry["path"],
                "sha256": digest,
                "package": package,
                "licence": licence,
                "source_size": entry["size"],
                "size": list(image.shape[:2]),
            }
        )
        if progress:
            progress(f"[{number}/{len(kept)}] {split}/{name} <- {entry['path']} ({licence})")
    manifest = {
        "settings": {
            "inputs": [os.path.abspath(i) if i != "samples" else i for i in inputs],
            "short_side": short_side,
            "val_fraction": val_fraction,
            "seed": seed,
            "min_short_side": min_short_side,
            "dedup_distance": dedup_distance,
            "exclude": list(exclude),
            "train_only": list(train_only),
            "min_contrast": min_contrast,
        },
        "num_train": sum(f["split"] == "train" for f in files),
        "num_val": sum(f["split"] == "val" for f in files),
        "files": files,
        "dropped": sorted(dropped, key=lambda d: d["source"]),
    }
    write_json(os.path.join(output, "manifest.json"), manifest, indent=1)  # Strict, atomic.
    return manifest
