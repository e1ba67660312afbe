//go:build !linux

package main

import (
	"context"
	"errors"
	"time"
)

// epollAvailable: the epoll loops exist on this platform.
const epollAvailable = false

func runEpollLoop(context.Context, bool, string, int, int, time.Duration) (int64, int64, error) {
	return 0, 0, errors.New("the epoll loops need Linux")
}
