// deepgoroutines parks 100,000 goroutines 60 frames deep on one channel and writes the
// goroutine profile at debug=2 (which Go cuts at 64 MiB) and debug=1 (counts by stack) into the
// folder -out. See ../generate-deepgoroutines.sh.
package main

import (
	"flag"
	"os"
	"path/filepath"
	"runtime/pprof"
	"time"
)

type request struct{ id int }

func deep(c chan *request, r *request, n int) {
	if n == 0 {
		<-c
		return
	}
	deep(c, r, n-1)
}

func main() {
	out := flag.String("out", ".", "folder for the dumps")
	flag.Parse()
	c := make(chan *request)
	for i := 0; i < 100000; i++ {
		go deep(c, &request{id: i}, 60)
	}
	time.Sleep(2 * time.Second)
	for _, debug := range []int{1, 2} {
		name := filepath.Join(*out, "goroutines-deep.debug"+string(rune('0'+debug))+".txt")
		f, err := os.Create(name)
		if err != nil {
			panic(err)
		}
		if err := pprof.Lookup("goroutine").WriteTo(f, debug); err != nil {
			panic(err)
		}
		f.Close()
	}
}
