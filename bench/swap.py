#!/usr/bin/env python3
"""Hot-swap benchmark: swap latency, throughput during a swap storm, memory per swap.

Run through bench/swap.sh, which builds the release host and installs wrk. Measures, in one run:

1. Swap latency: a new version is renamed into the plugin directory; the clock starts when the
   rename returns (the file has settled) and stops at the first response from the new version,
   polled over one keep-alive connection. Reported as p50/p99, whole and beyond the debounce.
2. Throughput dip: wrk against /swap/payload for D seconds with no swaps, then D seconds while a
   new version is dropped every 100 ms, alternately, R rounds; median ratio storm/quiet.
3. Resident memory per swap: N swaps of a C plugin through distinct versions (each a new image
   that is unmapped after draining), and of a Swift plugin (each a new image that stays mapped);
   VmRSS of the host before and after, per swap, beside the image size; then the retained-image
   cap at work (the next Swift version past it is refused).
"""
import http.client, json, os, re, shutil, signal, statistics, subprocess, sys, tempfile, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = sys.argv[1]
DURATION = int(os.environ.get("DURATION", "6"))
ROUNDS = int(os.environ.get("ROUNDS", "3"))
LATENCY_SWAPS = int(os.environ.get("LATENCY_SWAPS", "60"))
C_VERSIONS = int(os.environ.get("C_VERSIONS", "200"))
SWIFT_VERSIONS = int(os.environ.get("SWIFT_VERSIONS", "16"))
PARTS = set(os.environ.get("PARTS", "latency,storm,rss-c,rss-swift").split(","))
DEBOUNCE_MS = 50
WORK = tempfile.mkdtemp(prefix="switchboard-swap-bench-")


def goal_row(figure, value, unit, baseline="", baseline_value="", goal=""):
    """One figure for bench/all.sh's table (see goal_row in bench/lib.sh)."""
    table = os.environ.get("BENCH_TABLE")
    if table:
        with open(table, "a") as f:
            f.write("\t".join(str(x) for x in (figure, value, unit, baseline, baseline_value, goal)) + "\n")
INCLUDE = os.path.join(ROOT, "Sources/CSwitchboard/include")


def sh(*args, **kw):
    return subprocess.run(args, check=True, **kw)


def build_c_versions(count):
    out = []
    for v in range(1, count + 1):
        path = f"{WORK}/c/swap_v{v}.so"
        os.makedirs(os.path.dirname(path), exist_ok=True)
        sh("cc", "-shared", "-fPIC", "-O2", "-I", INCLUDE, f"-DSWAP_VERSION={v}", "-o", path, f"{ROOT}/Tests/Fixtures/swap.c")
        out.append(path)
    return out


def build_swift_versions(count):
    """The Swift example, each copy with its own version string: a distinct image each time.
    Compiled with swiftc against the release build's SDK modules, linking the SDK's objects (and
    those of the modules below it) into each image, as SwiftPM links them into libHelloSwift.so."""
    source = open(f"{ROOT}/Plugins/HelloSwift/HelloSwift.swift").read()
    modulemap_dir = f"{WORK}/swift/module"
    os.makedirs(modulemap_dir, exist_ok=True)
    with open(f"{modulemap_dir}/module.modulemap", "w") as f:
        f.write(f'module CSwitchboard {{\n  header "{INCLUDE}/switchboard.h"\n  export *\n}}\n')
    objects = []
    for module in ("SwitchboardSDK", "SwitchboardCore"):
        directory = f"{BIN}/{module}.build"
        if os.path.isdir(directory):
            # Only the objects of the module's sources now (a build folder keeps those of files
            # that have since moved to another module).
            objects += sorted(f"{directory}/{name}" for name in os.listdir(directory)
                              if name.endswith(".swift.o") and os.path.exists(f"{ROOT}/Sources/{module}/{name[:-2]}"))
    out = []
    for v in range(1, count + 1):
        src = f"{WORK}/swift/v{v}.swift"
        with open(src, "w") as f:
            f.write(source.replace('version: "2.0.0"', f'version: "2.0.{v}"'))
        path = f"{WORK}/swift/libHelloSwift_v{v}.so"
        sh("swiftc", "-emit-library", "-parse-as-library", "-O", "-module-name", f"HelloSwiftV{v}",
           "-I", modulemap_dir, "-I", f"{BIN}/Modules", "-o", path, src, *objects, stdout=subprocess.DEVNULL)
        out.append(path)
    return out


class Host:
    started = []  # every host started, stopped at exit even when a measurement fails

    def __init__(self, name, env=None):
        self.plugins = f"{WORK}/{name}/plugins"
        os.makedirs(self.plugins, exist_ok=True)
        self.env = dict(os.environ, SWITCHBOARD_LOG_LEVEL="notice", SWITCHBOARD_STATE_DIRECTORY=f"{WORK}/{name}/state",
                        SWITCHBOARD_PLUGINS_DEBOUNCE_MS=str(DEBOUNCE_MS), **(env or {}))
        self.log = open(f"{WORK}/{name}/host.log", "w+")
        self.proc = None
        self.port = None

    def start(self, files):
        """Starts the host serving `files` (name in the plugin directory -> source file)."""
        for name, source in files.items():
            shutil.copyfile(source, f"{self.plugins}/{name}")
        self.proc = subprocess.Popen(
            ["taskset", "-c", "1", f"{BIN}/switchboard", "serve", "--port", "0", "--plugins", self.plugins],
            env=self.env, stderr=subprocess.PIPE, text=True)
        Host.started.append(self)
        for line in self.proc.stderr:
            self.log.write(line)
            m = re.search(r"address=\S*:(\d+) .*serving", line)
            if m:
                self.port = int(m.group(1))
                break
        if not self.port:
            raise SystemExit("host did not start")
        # Keep draining stderr so the host never blocks on a full pipe.
        import threading
        threading.Thread(target=lambda: [self.log.write(l) for l in self.proc.stderr], daemon=True).start()

    def drop(self, source, name):
        tmp = f"{self.plugins}/.incoming"
        shutil.copyfile(source, tmp)
        os.rename(tmp, f"{self.plugins}/{name}")

    def pid(self):
        """The worker's pid (the supervisor that `serve` runs holds no plugin image)."""
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        c.request("GET", "/_switchboard/workers")
        pid = json.loads(c.getresponse().read())["worker"]["pid"]
        c.close()
        return pid

    def rss_kib(self):
        with open(f"/proc/{self.pid()}/status") as f:
            return int(re.search(r"VmRSS:\s+(\d+)", f.read()).group(1))

    def image_rss_kib(self):
        """Resident KiB of the mappings of plugin images (the private copies under images/)."""
        total, current = 0, None
        with open(f"/proc/{self.pid()}/smaps") as f:
            for line in f:
                if re.match(r"^[0-9a-f]+-[0-9a-f]+ ", line):
                    current = "/images/" in line
                elif current and line.startswith("Rss:"):
                    total += int(line.split()[1])
        return total

    def admin(self, path):
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        c.request("GET", path)
        return json.loads(c.getresponse().read())

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()


def version_of(conn, path="/swap/payload", header="x-swap-version"):
    conn.request("GET", path)
    r = conn.getresponse()
    r.read()
    return r.getheader(header)


def wait_version(port, want, path="/swap/payload", header="x-swap-version", timeout=10.0):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if version_of(conn, path, header) == want:
                return time.monotonic()
        except (http.client.HTTPException, OSError):
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    raise SystemExit(f"version {want} never served on {path}")


def percentile(values, p):
    s = sorted(values)
    return s[min(len(s) - 1, int(round(p / 100 * (len(s) - 1))))]


def wrk(port, seconds):
    out = subprocess.run(["taskset", "-c", "0", "wrk", "-t1", "-c32", f"-d{seconds}s", f"http://127.0.0.1:{port}/swap/payload"],
                         check=True, capture_output=True, text=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    socket_errors = re.search(r"Socket errors: (.*)", out)
    return rps, int(errors.group(1)) if errors else 0, socket_errors.group(1) if socket_errors else ""


def main():
    swift_count = SWIFT_VERSIONS if "rss-swift" in PARTS else 0
    print(f"building {C_VERSIONS} C versions and {swift_count} Swift versions ...", flush=True)
    c_versions = build_c_versions(max(C_VERSIONS, 2))
    swift_versions = build_swift_versions(SWIFT_VERSIONS) if "rss-swift" in PARTS else []
    if "latency" in PARTS:
        latency(c_versions)
    if "storm" in PARTS:
        storm(c_versions)
    if "rss-c" in PARTS:
        rss_c(c_versions)
    if "rss-swift" in PARTS:
        rss_swift(swift_versions)


def latency(c_versions):
    host = Host("latency")
    host.start({"swap.so": c_versions[0]})
    latencies = []
    for i in range(LATENCY_SWAPS):
        v = 2 if i % 2 == 0 else 1
        host.drop(c_versions[v - 1], "swap.so")
        settled = time.monotonic()
        latencies.append((wait_version(host.port, str(v)) - settled) * 1000)
        time.sleep(0.02)
    host.stop()
    p50, p99 = percentile(latencies, 50), percentile(latencies, 99)
    print(f"\nswap latency over {LATENCY_SWAPS} swaps (debounce {DEBOUNCE_MS} ms):")
    print(f"  p50 {p50:.1f} ms   p99 {p99:.1f} ms   max {max(latencies):.1f} ms")
    print(f"  beyond the debounce: p50 {p50 - DEBOUNCE_MS:.1f} ms   p99 {p99 - DEBOUNCE_MS:.1f} ms   (goal: p99 <= 50 ms)")
    goal_row("swap latency beyond the debounce, p99", f"{p99 - DEBOUNCE_MS:.1f}", "ms", goal="<=50")


def storm(c_versions):
    host = Host("storm")
    host.start({"swap.so": c_versions[0]})
    wrk(host.port, 2)  # warm-up
    ratios = []
    for r in range(ROUNDS):
        quiet, quiet_errors, _ = wrk(host.port, DURATION)
        swapper = subprocess.Popen([sys.executable, "-c", f"""
import os, shutil, time
src = {c_versions[:2]!r}
end = time.monotonic() + {DURATION}
i = 0
while time.monotonic() < end:
    shutil.copyfile(src[i % 2], {host.plugins!r} + "/.incoming")
    os.rename({host.plugins!r} + "/.incoming", {host.plugins!r} + "/swap.so")
    i += 1
    time.sleep(0.1)
print(i)
"""], stdout=subprocess.PIPE, text=True)
        storm, storm_errors, socket_errors = wrk(host.port, DURATION)
        swaps = int(swapper.communicate()[0])
        ratios.append(storm / quiet)
        print(f"  round {r + 1}: quiet {quiet:,.0f} req/s, storm ({swaps} swaps) {storm:,.0f} req/s, ratio {storm / quiet:.3f}; "
              f"non-2xx: {quiet_errors}/{storm_errors} {socket_errors}", flush=True)
    generation = host.admin("/_switchboard/plugins/swap")["generation"]
    host.stop()
    print(f"\nthroughput during a swap storm (a swap every 100 ms; final generation {generation}):")
    print(f"  median ratio storm/quiet {statistics.median(ratios):.3f}   (goal: >= 0.90)")
    goal_row("swap storm throughput / quiet", f"{statistics.median(ratios):.3f}", "ratio", goal=">=0.9")


def rss_c(c_versions):
    host = Host("rss-c")
    host.start({"swap.so": c_versions[0]})
    warm = min(20, len(c_versions) - 1)
    for v in range(2, warm + 2):
        host.drop(c_versions[v - 1], "swap.so")
        wait_version(host.port, str(v))
    time.sleep(0.3)
    before = host.rss_kib()
    swaps = 0
    for v in list(range(warm + 2, len(c_versions) + 1)) + list(range(1, warm + 2)):
        host.drop(c_versions[v - 1], "swap.so")
        wait_version(host.port, str(v))
        swaps += 1
    time.sleep(0.5)
    after = host.rss_kib()
    maps = sum(1 for _ in open(f"/proc/{host.pid()}/maps"))
    host.stop()
    c_size = os.path.getsize(c_versions[0]) / 1024
    print(f"\nresident memory per swap, C plugin ({swaps} swaps through distinct versions after {warm} warm-up swaps):")
    print(f"  VmRSS {before} KiB -> {after} KiB: {(after - before) / swaps:+.1f} KiB per swap (image {c_size:.0f} KiB; goal: flat); {maps} mappings")
    goal_row("swap resident growth per C swap", f"{(after - before) / swaps:.1f}", "KiB", goal="")


def rss_swift(swift_versions):
    cap = len(swift_versions) - 2
    warm = 3
    host = Host("rss-swift", env={"SWITCHBOARD_PLUGINS_MAX_RETAINED_IMAGES": str(cap)})
    host.start({"hello.so": swift_versions[0]})

    def swap_to(v):
        host.drop(swift_versions[v - 1], "hello.so")
        deadline = time.monotonic() + 20
        while host.admin("/_switchboard/plugins/hello-swift").get("version") != f"2.0.{v}":
            if time.monotonic() > deadline:
                raise SystemExit(f"Swift version {v} never loaded")
            time.sleep(0.01)

    for v in range(2, warm + 2):
        swap_to(v)
    time.sleep(0.5)
    before, images_before = host.rss_kib(), host.image_rss_kib()
    served = 0
    for v in range(warm + 2, cap + 1):
        swap_to(v)
        served += 1
    time.sleep(0.5)
    after, images_after = host.rss_kib(), host.image_rss_kib()
    swift_size = os.path.getsize(swift_versions[0]) / 1024
    # One past the cap: the worker is handed over to a new one, which maps only what serves.
    generation = host.admin("/_switchboard/workers")["worker"]["generation"]
    host.drop(swift_versions[cap], "hello.so")
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if host.admin("/_switchboard/plugins/hello-swift").get("version") == f"2.0.{cap + 1}":
                break
        except (OSError, ValueError):
            pass  # between workers
        time.sleep(0.05)
    listing = host.admin("/_switchboard/plugins")
    plugin = next(p for p in listing["plugins"] if p["name"] == "hello-swift")
    worker = host.admin("/_switchboard/workers")["worker"]
    host.stop()
    print(f"\nresident memory per swap, Swift plugin ({served} swaps through distinct versions after {warm} warm-up swaps; never unmapped):")
    if served == 0:
        print("  no version was measured past the warm-up: raise SWIFT_VERSIONS")
        return
    print(f"  VmRSS {before} KiB -> {after} KiB: {(after - before) / served:+.1f} KiB per swap (image file {swift_size:.0f} KiB; goal: <= image size)")
    goal_row("swap resident growth per Swift swap", f"{(after - before) / served:.1f}", "KiB", goal=f"<={swift_size:.0f}")
    print(f"  of which the image mappings: {(images_after - images_before) / served:+.1f} KiB per swap; "
          f"the rest (heap, Swift runtime metadata): {((after - before) - (images_after - images_before)) / served:+.1f} KiB per swap")
    handed_over = worker["generation"] > generation
    print(f"  version {cap + 1}, past the cap of {listing['max_retained_images']} retained images: "
          f"{'handed over to worker ' + str(worker['generation']) if handed_over else 'NOT handed over'}, "
          f"serving {plugin['version']} with {listing['retained_images']} retained image(s)")


def stop_all():
    for host in Host.started:
        host.stop()


if __name__ == "__main__":
    import atexit
    atexit.register(stop_all)
    try:
        main()
    finally:
        shutil.rmtree(WORK, ignore_errors=True)
