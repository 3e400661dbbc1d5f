#!/usr/bin/env bash
# Seeds the fuzz corpora from testdata/ (run from the repository root).
set -euo pipefail
mkdir -p fuzz/corpus/pprof fuzz/corpus/legacy_heap
cp testdata/pprof/*.pb.gz testdata/pprof/*.pprof testdata/go/*.pb.gz testdata/go/go1.27/*.pb.gz fuzz/corpus/pprof/
mkdir -p fuzz/corpus/heaptrack
for f in testdata/heaptrack/*.gz; do gzip -dc "$f" > "fuzz/corpus/heaptrack/$(basename "$f" .gz)"; done
cp testdata/legacy/*.heap testdata/legacy/*.growth testdata/go/*.heap.txt testdata/go/go1.27/*.heap.txt fuzz/corpus/legacy_heap/
mkdir -p fuzz/corpus/jemalloc
cp testdata/c/*-jemalloc*.heap fuzz/corpus/jemalloc/
cp testdata/c/*-gperftools-*.heap fuzz/corpus/legacy_heap/
mkdir -p fuzz/corpus/goroutine
cp testdata/go/*-goroutines-*.txt testdata/go/go1.27/*-goroutine*.txt testdata/go/go1.27/synctest-*.txt fuzz/corpus/goroutine/
mkdir -p fuzz/corpus/heapdump
for f in testdata/go/heapdump/*.gz testdata/go/go1.27/*.dump.gz; do gzip -dc "$f" | tail -c +17 > "fuzz/corpus/heapdump/$(basename "$f" .gz)"; done
mkdir -p fuzz/corpus/procstat
cp testdata/collect/series/process-*.txt fuzz/corpus/procstat/
mkdir -p fuzz/corpus/gotypes
cp testdata/go/typesgen/*.debug testdata/go/sessionleak/*.debug fuzz/corpus/gotypes/
