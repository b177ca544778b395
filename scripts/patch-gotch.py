#!/usr/bin/env python3
"""Patch a copy of github.com/sugarme/gotch v0.8.0 so it builds and runs
against Debian 12's libtorch-dev (libtorch 1.13.1, CPU only, CXX11 ABI).

Usage: patch-gotch.py DIR   (DIR: the writable copy, e.g. third_party/gotch)

Idempotent. Steps (see the gotch section of the team's facts notes):
  1. cgo flags for Debian's layout (libtch/lib.go);
  2. stub every generated C wrapper that libtorch 1.13 lacks: g++
     -fsyntax-only lists them, each body becomes a throw, which PROTECT
     turns into a Go error; repeated until the file compiles;
  3. runtime.KeepAlive after every lib.Atg* call in ts/tensor-generated.go
     (v0.8.0 passes C pointers of Go objects the GC may finalize mid-call);
  4. Go bindings for at_manual_seed and at_{get,set}_num_threads.
"""
import os
import re
import subprocess
import sys

d = sys.argv[1]
lib = os.path.join(d, "libtch")


def include_dir():
    out = subprocess.run(["dpkg", "-L", "libtorch-dev"], capture_output=True, text=True, check=True).stdout
    for line in out.splitlines():
        if line.endswith("csrc/api/include"):
            return line
    sys.exit("patch-gotch: libtorch-dev has no csrc/api/include; is it installed?")


INC = include_dir()
CXXFLAGS = ["-std=c++17", "-D_GLIBCXX_USE_CXX11_ABI=1", "-O1", "-I" + lib, "-I" + INC]

# 1. cgo flags.
with open(os.path.join(lib, "lib.go"), "w") as f:
    f.write(f"""package libtch

// Patched for Debian's libtorch-dev (libtorch 1.13.1, CPU, CXX11 ABI) by envgym's scripts/patch-gotch.py.

// #cgo LDFLAGS: -lstdc++ -ltorch -lc10 -ltorch_cpu
// #cgo CFLAGS: -I${{SRCDIR}} -O1 -Wall -Wno-unused-variable -Wno-deprecated-declarations -Wno-sign-compare -Wno-unused-function
// #cgo CFLAGS: -D_GLIBCXX_USE_CXX11_ABI=1
// #cgo CXXFLAGS: -std=c++17 -D_GLIBCXX_USE_CXX11_ABI=1 -O1 -I${{SRCDIR}} -I{INC} -Wno-deprecated-declarations
import "C"
""")

# 2. Stub wrappers libtorch 1.13 lacks.
gen = os.path.join(lib, "torch_api_generated.cpp.h")
stubbed = set()
for attempt in range(6):
    res = subprocess.run(["g++", "-fsyntax-only", "-w"] + CXXFLAGS + [os.path.join(lib, "torch_api.cpp")],
                         capture_output=True, text=True)
    if res.returncode == 0:
        break
    lines = open(gen).read().split("\n")
    bad = set()
    for m in re.finditer(r"torch_api_generated\.cpp\.h:(\d+):\d+: error:", res.stderr):
        n = int(m.group(1)) - 1
        while n >= 0 and not re.match(r"^\S.*\batg_\w+\(", lines[n]):
            n -= 1
        if n < 0:
            sys.exit("patch-gotch: error outside a wrapper:\n" + res.stderr[-4000:])
        bad.add(n)
    if not bad:
        sys.exit("patch-gotch: torch_api.cpp does not compile:\n" + res.stderr[-4000:])
    for n in sorted(bad, reverse=True):
        name = re.search(r"\b(atg_\w+)\(", lines[n]).group(1)
        # Body: from the PROTECT( line after the signature to its closing ')'.
        start = n + 1
        while not lines[start].strip().startswith("PROTECT("):
            start += 1
        end = start + 1
        while lines[end].rstrip() != "  )":
            end += 1
        lines[start:end + 1] = ['  PROTECT(throw std::runtime_error("%s: not available in libtorch 1.13");)' % name]
        stubbed.add(name)
    open(gen, "w").write("\n".join(lines))
else:
    sys.exit("patch-gotch: still failing after stubbing:\n" + res.stderr[-4000:])
if stubbed:
    print("patch-gotch: stubbed %d wrappers: %s" % (len(stubbed), " ".join(sorted(stubbed))))

# 3. KeepAlive after every lib.Atg* call.
tg = os.path.join(d, "ts", "tensor-generated.go")
src = open(tg).read()
if "runtime.KeepAlive" not in src:
    out = []
    ranged = []  # tensor-slice params ranged over in the current function
    for line in src.split("\n"):
        if line.startswith("func"):
            ranged = []
        m = re.search(r"range (\w+)\s*\{", line)
        if m:
            ranged.append(m.group(1))
        out.append(line)
        m = re.match(r"^(\s*)(?:\w+\s*:?=\s*)?lib\.Atg\w+\((.*)\)\s*$", line)
        if m:
            names = re.findall(r"\b(\w+)\.c(?:tensor|scalar)\b", m.group(2)) + ranged
            for nm in dict.fromkeys(names):
                out.append("%sruntime.KeepAlive(%s)" % (m.group(1), nm))
    src = "\n".join(out)
    src = src.replace('import(', 'import(\n  "runtime"', 1) if 'import(' in src else src.replace('import (', 'import (\n\t"runtime"', 1)
    open(tg, "w").write(src)

# 4. Extra bindings.
with open(os.path.join(lib, "envgym_extra.go"), "w") as f:
    f.write("""package libtch

// Added by envgym's scripts/patch-gotch.py.

// #include <stdbool.h>
// #include "torch_api.h"
import "C"

func AtManualSeed(seed int64) { C.at_manual_seed(C.int64_t(seed)) }

func AtGetNumThreads() int { return int(C.at_get_num_threads()) }

func AtSetNumThreads(n int) { C.at_set_num_threads(C.int(n)) }
""")
with open(os.path.join(d, "ts", "envgym_extra.go"), "w") as f:
    f.write("""package ts

// Added by envgym's scripts/patch-gotch.py.

import lib "github.com/sugarme/gotch/libtch"

// ManualSeed seeds libtorch's global generators.
func ManualSeed(seed int64) error { lib.AtManualSeed(seed); return TorchErr() }

// GetNumThreads is libtorch's intra-op thread count.
func GetNumThreads() int { return lib.AtGetNumThreads() }

// SetNumThreads sets libtorch's intra-op thread count.
func SetNumThreads(n int) error { lib.AtSetNumThreads(n); return TorchErr() }
""")
print("patch-gotch: done")
