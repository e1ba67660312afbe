package redisproc

import (
	"bufio"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"time"
)

// ReplyError is an error reply from the server, like "ERR unknown
// command".
type ReplyError string

func (e ReplyError) Error() string { return "redis: " + string(e) }

// Do sends one command over a fresh connection and returns the reply:
// a string, int64, nil or []any. Readiness checks use it so that they
// depend on no client library's pool or retries.
func Do(ctx context.Context, addr string, args ...string) (any, error) {
	return DoAuth(ctx, addr, "", args...)
}

// DoAuth is [Do], authenticated with password (AUTH) unless it is "".
func DoAuth(ctx context.Context, addr, password string, args ...string) (any, error) {
	replies, err := pipeline(ctx, addr, password, args)
	if err != nil {
		return nil, err
	}
	return replies[0], nil
}

// pipeline sends commands over one fresh connection, after AUTH password
// unless password is "", and returns their replies; an error reply to any
// of them is the error.
func pipeline(ctx context.Context, addr, password string, cmds ...[]string) ([]any, error) {
	if password != "" {
		replies, err := pipeline(ctx, addr, "", append([][]string{{"AUTH", password}}, cmds...)...)
		if err != nil {
			return nil, err
		}
		return replies[1:], nil
	}
	d := net.Dialer{Timeout: 500 * time.Millisecond}
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { _ = conn.Close() }) // unblocks a read
	defer stop()
	deadline := time.Now().Add(2 * time.Second)
	if dl, ok := ctx.Deadline(); ok && dl.Before(deadline) {
		deadline = dl
	}
	if err := conn.SetDeadline(deadline); err != nil {
		return nil, err
	}
	var b strings.Builder
	for _, args := range cmds {
		fmt.Fprintf(&b, "*%d\r\n", len(args))
		for _, a := range args {
			fmt.Fprintf(&b, "$%d\r\n%s\r\n", len(a), a)
		}
	}
	if _, err := io.WriteString(conn, b.String()); err != nil {
		return nil, err
	}
	br := bufio.NewReader(conn)
	replies := make([]any, 0, len(cmds))
	var firstErr error
	for range cmds {
		v, err := readReply(br)
		var re ReplyError
		switch {
		case errors.As(err, &re):
			firstErr = cmp.Or(firstErr, err)
		case err != nil:
			return nil, err
		}
		replies = append(replies, v)
	}
	if firstErr != nil {
		return nil, firstErr
	}
	return replies, nil
}

// readReply reads one RESP2 reply.
func readReply(br *bufio.Reader) (any, error) {
	line, err := br.ReadString('\n')
	if err != nil {
		return nil, err
	}
	line = strings.TrimSuffix(strings.TrimSuffix(line, "\n"), "\r")
	if line == "" {
		return nil, errors.New("redis: empty reply line")
	}
	body := line[1:]
	switch line[0] {
	case '+':
		return body, nil
	case '-':
		return nil, ReplyError(body)
	case ':':
		return strconv.ParseInt(body, 10, 64)
	case '$', '*':
		n, err := strconv.Atoi(body)
		if err != nil {
			return nil, fmt.Errorf("redis: bad %s length %q", map[byte]string{'$': "bulk", '*': "array"}[line[0]], body)
		}
		if n < 0 {
			return nil, nil
		}
		if line[0] == '$' {
			buf := make([]byte, n+2)
			if _, err := io.ReadFull(br, buf); err != nil {
				return nil, err
			}
			return string(buf[:n]), nil
		}
		out := make([]any, 0, n)
		for range n {
			v, err := readReply(br)
			if err != nil {
				return nil, err
			}
			out = append(out, v)
		}
		return out, nil
	}
	return nil, fmt.Errorf("redis: unexpected reply %q", line)
}

// Info returns the text of INFO section.
func Info(ctx context.Context, addr, section string) (string, error) {
	return InfoAuth(ctx, addr, "", section)
}

// InfoAuth is [Info], authenticated with password (AUTH) unless it is
// "".
func InfoAuth(ctx context.Context, addr, password, section string) (string, error) {
	v, err := DoAuth(ctx, addr, password, "INFO", section)
	if err != nil {
		return "", err
	}
	s, ok := v.(string)
	if !ok {
		return "", fmt.Errorf("redis: INFO %s: unexpected reply %v", section, v)
	}
	return s, nil
}

// replicationRole returns "master" or "slave" from INFO replication.
func replicationRole(ctx context.Context, addr, password string) (string, error) {
	info, err := InfoAuth(ctx, addr, password, "replication")
	if err != nil {
		return "", err
	}
	return InfoField(info, "role"), nil
}

// InfoField returns the value of "name:value" in INFO output, or "".
func InfoField(info, name string) string {
	for line := range strings.Lines(info) {
		if v, ok := strings.CutPrefix(line, name+":"); ok {
			return strings.TrimRight(v, "\r\n")
		}
	}
	return ""
}
