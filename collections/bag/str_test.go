package bag

import (
	"slices"
	"strings"
	"testing"
)

// The string methods give what Go's strings functions give, element by
// element; Split().Flatten() is one step; a non-string element is an error
// naming it.
func TestStrMethods(t *testing.T) {
	ctx, c := newClient(t)
	items := []string{"  Hello World ", "", "a,,b", "ÉCOLE école", "\tx  y\n", "one"}
	b, err := FromSlice(items, 3)
	if err != nil {
		t.Fatal(err)
	}
	plain := func(f func(string) string) []string {
		var out []string
		for _, s := range items {
			out = append(out, f(s))
		}
		return out
	}
	for _, tc := range []struct {
		name string
		bag  *Bag
		want []string
	}{
		{"lower", b.Str().Lower(), plain(strings.ToLower)},
		{"upper", b.Str().Upper(), plain(strings.ToUpper)},
		{"strip", b.Str().Strip(), plain(strings.TrimSpace)},
		{"strip lower", b.Str().Strip().Str().Lower(), plain(func(s string) string { return strings.ToLower(strings.TrimSpace(s)) })},
		{"words", b.Str().Split("").Flatten(), func() (out []string) {
			for _, s := range items {
				out = append(out, strings.Fields(s)...)
			}
			return
		}()},
		{"split comma flatten", b.Str().Split(",").Flatten(), func() (out []string) {
			for _, s := range items {
				out = append(out, strings.Split(s, ",")...)
			}
			return
		}()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ComputeAs[string](ctx, c, tc.bag)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, tc.want) {
				t.Fatalf("got %q, want %q", got, tc.want)
			}
		})
	}
	// Split without Flatten: lists; Flatten after a FlatMap-free Split is
	// one step, and Flatten of lists gives their items.
	lists, err := ComputeAs[[]string](ctx, c, b.Str().Split(""))
	if err != nil {
		t.Fatal(err)
	}
	for i, s := range items {
		if f := strings.Fields(s); !slices.Equal(lists[i], f) && !(len(f) == 0 && len(lists[i]) == 0) {
			t.Fatalf("Split()[%d] = %q, want %q", i, lists[i], f)
		}
	}
	if fused := b.Str().Split("").Flatten(); fused.n.step.Op != "str.split" || !fused.n.step.Flatten {
		t.Fatalf("Split().Flatten() is %+v, want one flattening split", fused.n.step)
	}
	nested, err := FromSlice([][]int{{1, 2}, {}, {3}}, 2)
	if err != nil {
		t.Fatal(err)
	}
	flat, err := ComputeAs[int](ctx, c, nested.Flatten())
	if err != nil || !slices.Equal(flat, []int{1, 2, 3}) {
		t.Fatalf("Flatten = %v, %v", flat, err)
	}
	// Errors name the step and the element.
	nums, _ := FromSlice([]int{1, 2}, 1)
	if _, err := nums.Str().Lower().Compute(ctx, c); err == nil || !strings.Contains(err.Error(), "str.lower: element 0 is") {
		t.Fatalf("Lower of ints: %v", err)
	}
	if _, err := b.Flatten().Compute(ctx, c); err == nil || !strings.Contains(err.Error(), "not a list") {
		t.Fatalf("Flatten of strings: %v", err)
	}
}
