package bench

import (
	"fmt"
	"os"
	"strings"
	"testing"
)

// childEnv, when set, makes the test binary a helper process of a test or
// benchmark instead of running tests: "sender:..." is the benchmark's
// traffic generator, "router:..." the router the SIGKILL test kills. Its
// value after the colon is the helper's arguments.
const childEnv = "NFGO_BENCH_CHILD"

func TestMain(m *testing.M) {
	if spec := os.Getenv(childEnv); spec != "" {
		kind, args, _ := strings.Cut(spec, ":")
		var err error
		switch kind {
		case "sender":
			err = senderChild(args)
		case "router":
			err = routerChild(args)
		default:
			err = fmt.Errorf("unknown child %q", kind)
		}
		if err != nil {
			fmt.Println("child: error:", err)
			os.Exit(2)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}
