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
	"syscall"
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
// daemon gave, as an exitError when it is not 0. An interrupt (Ctrl-C)
// ends a streaming command normally.
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
				return &exitError{code: f.Code, err: errors.New("")}
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
