package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/nfgo/nfgo/cmd/nfgo/internal/ctcmd"
	"github.com/nfgo/nfgo/cmd/nfgo/internal/exitcode"
)

// socketPath is the control socket a command talks to: -s, else
// $NFGO_SOCKET, else the default.
func socketPath(flagValue string) string {
	if flagValue != "" {
		return flagValue
	}
	if s := os.Getenv("NFGO_SOCKET"); s != "" {
		return s
	}
	return defaultSocket
}

// call sends req to the nfgo at socket and copies its answer: text to
// stdout and stderr, packets to onPkt. It returns the exit status the
// daemon gave, as an *exitcode.Error when it is not 0. An interrupt
// (Ctrl-C) ends a streaming command normally.
func call(socket string, req request, stdout, stderr io.Writer, onPkt func(f *frame) error) error {
	c, err := net.Dial("unix", socket)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) || errors.Is(err, syscall.ECONNREFUSED) {
			return fmt.Errorf("no nfgo at %s (is it running? -s names another socket): %w", socket, err)
		}
		return err
	}
	defer c.Close()
	b, _ := json.Marshal(req)
	// A refusal may come before the request is all written: read the
	// answer either way.
	_, werr := c.Write(append(b, '\n'))
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sigs)
	interrupted := make(chan struct{})
	go func() {
		if _, ok := <-sigs; ok {
			close(interrupted)
			c.Close()
		}
	}()
	dec := json.NewDecoder(bufio.NewReader(c))
	for {
		var f frame
		if err := dec.Decode(&f); err != nil {
			select {
			case <-interrupted:
				return nil
			default:
			}
			if werr != nil {
				return werr
			}
			if errors.Is(err, io.EOF) {
				return errors.New("nfgo closed the connection before answering")
			}
			return err
		}
		if f.Out != "" {
			io.WriteString(stdout, f.Out)
		}
		if f.Err != "" {
			io.WriteString(stderr, f.Err)
		}
		if f.Pkt != nil && onPkt != nil {
			if err := onPkt(&f); err != nil {
				return err
			}
		}
		if f.End {
			if f.Code != 0 {
				return &exitcode.Error{Code: f.Code, Err: errors.New("")}
			}
			return nil
		}
	}
}

// cmdSimple runs a request without arguments of its own (counters, stats).
func cmdSimple(name string, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet(name, stderr)
	sock := fs.String("s", "", "control socket")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	return call(socketPath(*sock), request{Cmd: name}, stdout, stderr, nil)
}

// cmdConntrack sends the command line to the daemon, which parses it.
func cmdConntrack(args []string, stdout, stderr io.Writer) error {
	sock := ""
	var rest []string
	for i := 0; i < len(args); i++ {
		if args[i] == "--socket" || args[i] == "-s" && i+1 < len(args) && strings.HasPrefix(args[i+1], "/") {
			// -s is also conntrack's --src; a path names the socket.
			if i+1 < len(args) {
				sock = args[i+1]
				i++
				continue
			}
		}
		rest = append(rest, args[i])
	}
	if len(rest) == 0 || rest[0] == "-h" || rest[0] == "--help" {
		fmt.Fprintln(stderr, ctcmd.Usage)
		if len(rest) == 0 {
			return &exitcode.Error{Code: 2, Err: fmt.Errorf("")}
		}
		return nil
	}
	return call(socketPath(sock), request{Cmd: "conntrack", Args: rest}, stdout, stderr, nil)
}
