package actors

import (
	"bufio"
	"os"
	"runtime"
	"strconv"
	"strings"
)

// hostResources reports the cores and memory (total, used) of this machine.
func hostResources() (cores int, total, used uint64) {
	cores = runtime.NumCPU()
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		return cores, 0, 0
	}
	defer f.Close()
	var avail uint64
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 2 {
			continue
		}
		kb, err := strconv.ParseUint(fields[1], 10, 64)
		if err != nil {
			continue
		}
		switch fields[0] {
		case "MemTotal:":
			total = kb << 10
		case "MemAvailable:":
			avail = kb << 10
		}
	}
	if avail <= total {
		used = total - avail
	}
	return cores, total, used
}

// processRSS is this process's resident memory in bytes (0 if unknown).
func processRSS() uint64 {
	data, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0
	}
	fields := strings.Fields(string(data))
	if len(fields) < 2 {
		return 0
	}
	pages, err := strconv.ParseUint(fields[1], 10, 64)
	if err != nil {
		return 0
	}
	return pages * uint64(os.Getpagesize())
}
