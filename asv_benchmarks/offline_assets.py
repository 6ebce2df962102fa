"""Make an asv dashboard work without internet.

``asv publish`` writes an index.html that loads jQuery, flot (with its time,
selection and categories plugins), flot-orderbars, stupidtable, blueimp-md5
and Bootstrap from public CDNs; offline, the page shows only "One or more
external (JavaScript) dependencies of airspeed velocity failed to load".
:func:`vendor` fetches those assets from the npm registry (``npm pack``, which
checks their integrity; or, without npm, the registry's tarball, checked
against the registry's sha512), caches them outside git, copies them next to
the dashboard and points the page at the copies.

No third-party file is ever committed: the cache lives in
``$XDG_CACHE_HOME/cnnprop/asv-assets`` (default ``~/.cache/...``).
"""
import base64
import hashlib
import json
import os
import re
import shutil
import subprocess
import tarfile
import tempfile
import urllib.request
from pathlib import Path

__all__ = ["ASSETS", "vendor", "external_references"]

# CDN address (as asv 0.6 writes it) -> (npm package, version, file in the package)
ASSETS = {
    "https://code.jquery.com/jquery-3.3.1.min.js": ("jquery", "3.3.1", "dist/jquery.min.js"),
    "https://cdnjs.cloudflare.com/ajax/libs/flot/0.8.3/jquery.flot.min.js": ("flot", "0.8.3", "jquery.flot.js"),
    "https://cdnjs.cloudflare.com/ajax/libs/flot/0.8.3/jquery.flot.time.min.js":
        ("flot", "0.8.3", "jquery.flot.time.js"),
    "https://cdnjs.cloudflare.com/ajax/libs/flot/0.8.3/jquery.flot.selection.min.js":
        ("flot", "0.8.3", "jquery.flot.selection.js"),
    "https://cdnjs.cloudflare.com/ajax/libs/flot/0.8.3/jquery.flot.categories.min.js":
        ("flot", "0.8.3", "jquery.flot.categories.js"),
    "https://cdn.jsdelivr.net/npm/flot-orderbars@1.0.0/js/jquery.flot.orderBars.js":
        ("flot-orderbars", "1.0.0", "js/jquery.flot.orderBars.js"),
    # stupidtable 1.0.1 is not on npm; 1.1.3 (package stupid-table-plugin) has the same API
    "https://cdnjs.cloudflare.com/ajax/libs/stupidtable/1.0.1/stupidtable.min.js":
        ("stupid-table-plugin", "1.1.3", "stupidtable.min.js"),
    "https://cdnjs.cloudflare.com/ajax/libs/blueimp-md5/2.19.0/js/md5.min.js":
        ("blueimp-md5", "2.19.0", "js/md5.min.js"),
    "https://cdn.jsdelivr.net/npm/bootstrap@3.1.1/dist/js/bootstrap.min.js":
        ("bootstrap", "3.1.1", "dist/js/bootstrap.min.js"),
    "https://cdn.jsdelivr.net/npm/bootstrap@3.1.1/dist/css/bootstrap.min.css":
        ("bootstrap", "3.1.1", "dist/css/bootstrap.min.css"),
}
# Files a stylesheet needs beside it (bootstrap's css refers to ../fonts/).
COMPANIONS = {("bootstrap", "3.1.1"): ["dist/fonts"]}

REGISTRY = os.environ.get("npm_config_registry", "https://registry.npmjs.org").rstrip("/")
TAG = re.compile(r'<(script|link)\b[^>]*?\b(src|href)="(https?://[^"]+)"[^>]*>(\s*</script>)?', re.I)


def cache_dir():
    root = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(root) / "cnnprop" / "asv-assets"


def _tarball_by_npm(spec, dest):
    npm = shutil.which("npm")
    if npm is None:
        return None
    try:
        out = subprocess.run([npm, "pack", spec, "--pack-destination", str(dest), "--json"],
                             capture_output=True, text=True, timeout=300)
        if out.returncode != 0:
            return None
        return dest / json.loads(out.stdout)[0]["filename"]
    except (subprocess.SubprocessError, ValueError, LookupError, OSError):
        return None              # old npm, odd output: fall back to the registry over HTTP


def _tarball_by_http(package, version, dest):
    with urllib.request.urlopen(f"{REGISTRY}/{package}/{version}", timeout=60) as fh:
        meta = json.load(fh)["dist"]
    with urllib.request.urlopen(meta["tarball"], timeout=300) as fh:
        payload = fh.read()
    algorithm, _, digest = meta["integrity"].partition("-")
    if base64.b64encode(hashlib.new(algorithm, payload).digest()).decode() != digest:
        raise RuntimeError(f"{package}@{version}: tarball does not match the registry's {algorithm}")
    path = dest / f"{package}-{version}.tgz"
    path.write_bytes(payload)
    return path


def fetch(package, version):
    """The unpacked npm package ``package@version`` in the cache (downloaded once)."""
    target = cache_dir() / f"{package}-{version}"
    if (target / "package.json").exists():
        return target
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        tarball = _tarball_by_npm(f"{package}@{version}", tmp) or _tarball_by_http(package, version, tmp)
        with tarfile.open(tarball) as tar:
            members = [m for m in tar.getmembers() if m.name.startswith("package/") and m.isfile()]
            # the "data" filter refuses links and paths outside the target
            extra = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}
            tar.extractall(tmp / "x", members=members, **extra)
        target.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=target.name + ".", dir=target.parent))
        shutil.move(str(tmp / "x" / "package"), staging / "package")
        try:
            (staging / "package").rename(target)
        except OSError:
            if not (target / "package.json").exists():   # not another run's copy: a real error
                raise
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    return target


def external_references(html):
    """Every remote address the page loads a script or stylesheet from."""
    return [m.group(3) for m in TAG.finditer(html)]


def vendor(html_dir):
    """Copy the dashboard's third-party assets next to it and point its pages at them.

    Raises RuntimeError when a page loads a remote address this module does
    not know (a new asv version): the dashboard would not work offline.
    """
    html_dir = Path(html_dir)
    for page in sorted(html_dir.glob("*.html")):
        text = page.read_text(encoding="utf-8")

        def local(match):
            url = match.group(3)
            if url not in ASSETS:
                raise RuntimeError(f"{page.name} loads {url}, which has no local copy; add it to ASSETS")
            package, version, inner = ASSETS[url]
            source = fetch(package, version)
            rel = Path("vendor") / f"{package}-{version}" / inner
            (html_dir / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source / inner, html_dir / rel)
            for extra in COMPANIONS.get((package, version), []):
                shutil.copytree(source / extra, html_dir / "vendor" / f"{package}-{version}" / extra,
                                dirs_exist_ok=True)
            if match.group(1).lower() == "script":
                return f'<script src="{rel.as_posix()}" onerror="js_load_failure()"></script>'
            return f'<link rel="stylesheet" href="{rel.as_posix()}">'

        new = TAG.sub(local, text)
        if new != text:
            page.write_text(new, encoding="utf-8")
    left = {p.name: external_references(p.read_text(encoding="utf-8")) for p in html_dir.glob("*.html")}
    left = {k: v for k, v in left.items() if v}
    if left:
        raise RuntimeError(f"remote assets left in the dashboard: {left}")
