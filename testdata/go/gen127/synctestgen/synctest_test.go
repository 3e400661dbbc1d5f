// synctestgen: writes a goroutine debug=2 dump from inside a testing/synctest bubble, so that the
// headers carry Go 1.25+'s "(durable)" and ", synctest bubble N" forms (and Go 1.27 labels).
// Run: go test -c -o synctestgen.test . && ./synctestgen.test -test.run TestDump -out DIR
package synctestgen

import (
	"context"
	"flag"
	"os"
	"path/filepath"
	"runtime/pprof"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

var out = flag.String("out", ".", "output folder")

func bubbleReceiver(ch chan int) { <-ch }

func bubbleSender(ch chan int) { ch <- 1 }

func bubbleSelect(a, b chan int) {
	select {
	case <-a:
	case <-b:
	}
}

func bubbleSleeper() { time.Sleep(time.Hour) }

func bubbleCondWait(c *sync.Cond, done *bool) {
	c.L.Lock()
	for !*done {
		c.Wait()
	}
	c.L.Unlock()
}

func bubbleWaitGroup(wg *sync.WaitGroup) { wg.Wait() }

func TestDump(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a, b, c := make(chan int), make(chan int), make(chan int)
		cond := sync.NewCond(new(sync.Mutex))
		done := false
		var wg sync.WaitGroup
		wg.Add(1)
		go bubbleReceiver(a)
		go bubbleSender(b)
		go bubbleSelect(c, c)
		go bubbleSleeper()
		go bubbleCondWait(cond, &done)
		go bubbleWaitGroup(&wg)
		pprof.Do(context.Background(), pprof.Labels("handler", "upload"), func(context.Context) {
			go bubbleReceiver(a)
		})
		synctest.Wait()
		f, err := os.Create(filepath.Join(*out, "synctest-goroutines.debug2.txt"))
		if err != nil {
			t.Fatal(err)
		}
		if err := pprof.Lookup("goroutine").WriteTo(f, 2); err != nil {
			t.Fatal(err)
		}
		f.Close()
		a <- 1
		a <- 1
		<-b
		c <- 1
		cond.L.Lock()
		done = true
		cond.Broadcast()
		cond.L.Unlock()
		wg.Done()
		time.Sleep(2 * time.Hour) // fake time: lets bubbleSleeper finish
	})
}
