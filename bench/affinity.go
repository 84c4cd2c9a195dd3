package bench

import (
	"errors"
	"fmt"
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

// PinProcess sets the CPU affinity of every thread of the process to the
// one CPU cpu, so that a benchmark's sender, router and receiver can be
// kept on cores of their own. Threads the process starts later inherit the
// mask of the thread that starts them, which is then cpu too. The returned
// function gives every thread the mask the calling thread had before.
func PinProcess(cpu int) (restore func() error, err error) {
	var old unix.CPUSet
	if err := unix.SchedGetaffinity(0, &old); err != nil {
		return nil, fmt.Errorf("bench: sched_getaffinity: %w", err)
	}
	var one unix.CPUSet
	one.Set(cpu)
	if err := setAllThreads(&one); err != nil {
		setAllThreads(&old)
		return nil, fmt.Errorf("bench: pin to CPU %d: %w", cpu, err)
	}
	return func() error { return setAllThreads(&old) }, nil
}

// BoostProcess gives every thread of the process the nice value nice
// (-20 is the highest priority), so that on a shared machine other
// processes' threads do not take a benchmark's cores from it as readily.
// Threads started later inherit it. The returned function sets every
// thread back to the calling thread's nice value before.
func BoostProcess(nice int) (restore func() error, err error) {
	tid := unix.Gettid()
	// getpriority returns 20 - nice, so that the result is never negative.
	old, err := unix.Getpriority(unix.PRIO_PROCESS, tid)
	if err != nil {
		return nil, fmt.Errorf("bench: getpriority: %w", err)
	}
	if err := forAllThreads(func(t int) error { return unix.Setpriority(unix.PRIO_PROCESS, t, nice) }); err != nil {
		return nil, fmt.Errorf("bench: set nice %d: %w", nice, err)
	}
	return func() error {
		return forAllThreads(func(t int) error { return unix.Setpriority(unix.PRIO_PROCESS, t, 20-old) })
	}, nil
}

// setAllThreads sets the affinity of each thread of the process.
func setAllThreads(set *unix.CPUSet) error {
	return forAllThreads(func(tid int) error { return unix.SchedSetaffinity(tid, set) })
}

// forAllThreads calls f with the ID of each thread listed in
// /proc/self/task. A thread that ends meanwhile is not an error.
func forAllThreads(f func(tid int) error) error {
	tasks, err := os.ReadDir("/proc/self/task")
	if err != nil {
		return err
	}
	var errs []error
	for _, t := range tasks {
		tid, err := strconv.Atoi(t.Name())
		if err != nil {
			continue
		}
		if err := f(tid); err != nil && !errors.Is(err, unix.ESRCH) {
			errs = append(errs, fmt.Errorf("thread %d: %w", tid, err))
		}
	}
	return errors.Join(errs...)
}
