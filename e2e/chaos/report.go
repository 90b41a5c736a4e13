package chaos

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
)

// WriteTable prints the report as a Markdown table (one row per phase, then
// a total), followed by the checks that are not per phase and every
// violation.
func (r *Report) WriteTable(w io.Writer) error {
	var b strings.Builder
	tw := tabwriter.NewWriter(&b, 0, 0, 1, ' ', tabwriter.Debug)
	fmt.Fprintln(tw, "| fault\t acked\t not acked\t lost\t duplicated\t reordered\t longest unavailability (partition)\t phase length\t")
	fmt.Fprintln(tw, "|---\t---\t---\t---\t---\t---\t---\t---\t")
	var total Row
	total.Fault = "total"
	for _, row := range r.Rows {
		writeRow(tw, row)
		total.Acked += row.Acked
		total.NotAcked += row.NotAcked
		total.Lost += row.Lost
		total.Duplicated += row.Duplicated
		total.Reordered += row.Reordered
		total.Duration += row.Duration
		if row.LongestUnavailable > total.LongestUnavailable {
			total.LongestUnavailable, total.Worst = row.LongestUnavailable, row.Worst
		}
	}
	writeRow(tw, total)
	if err := tw.Flush(); err != nil {
		return err
	}
	// tabwriter's Debug mode separates cells with '|'; make the rows
	// Markdown by closing them.
	for _, line := range strings.Split(strings.TrimRight(b.String(), "\n"), "\n") {
		if _, err := fmt.Fprintln(w, strings.TrimRight(line, " ")); err != nil {
			return err
		}
	}
	if len(r.Partitions) > 0 {
		fmt.Fprintln(w)
		if err := r.writePartitions(w); err != nil {
			return err
		}
	}
	fmt.Fprintf(w, "\nreplicas differing below the high watermark: %d\n", r.ReplicaMismatches)
	fmt.Fprintf(w, "committed offsets moving backwards: %d\n", r.CommitRegressions)
	fmt.Fprintf(w, "groups not converged: %d\n", r.GroupsNotConverged)
	fmt.Fprintf(w, "acknowledged records a group never processed: %d\n", r.NotConsumed)
	fmt.Fprintf(w, "records in the logs never sent: %d\n", r.Unknown)
	if r.OK() {
		_, err := fmt.Fprintln(w, "\nverdict: PASS (no acknowledged record lost, none duplicated, order kept, replicas identical, commits monotonic, groups converged)")
		return err
	}
	fmt.Fprintf(w, "\nverdict: FAIL (%d violations)\n", len(r.Violations))
	for _, v := range r.Violations {
		if _, err := fmt.Fprintln(w, "  "+v); err != nil {
			return err
		}
	}
	return nil
}

// writePartitions prints each partition's longest unavailability in each
// phase, as a Markdown table: a row per partition, a column per phase.
func (r *Report) writePartitions(w io.Writer) error {
	var b strings.Builder
	tw := tabwriter.NewWriter(&b, 0, 0, 1, ' ', tabwriter.Debug)
	fmt.Fprint(tw, "| longest unavailability\t")
	for _, row := range r.Rows {
		fmt.Fprintf(tw, " %s\t", row.Fault)
	}
	fmt.Fprint(tw, "\n|---\t")
	for range r.Rows {
		fmt.Fprint(tw, "---\t")
	}
	fmt.Fprintln(tw)
	for _, tp := range r.Partitions {
		fmt.Fprintf(tw, "| %s\t", tp)
		for i := range r.Rows {
			cell := "-"
			if i < len(r.Gaps) && r.Gaps[i][tp] > 0 {
				cell = roundDuration(r.Gaps[i][tp]).String()
			}
			fmt.Fprintf(tw, " %s\t", cell)
		}
		fmt.Fprintln(tw)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, line := range strings.Split(strings.TrimRight(b.String(), "\n"), "\n") {
		if _, err := fmt.Fprintln(w, strings.TrimRight(line, " ")); err != nil {
			return err
		}
	}
	return nil
}

func writeRow(w io.Writer, row Row) {
	worst := "-"
	if row.LongestUnavailable > 0 {
		worst = fmt.Sprintf("%s (%s)", roundDuration(row.LongestUnavailable), row.Worst)
	}
	fmt.Fprintf(w, "| %s\t %d\t %d\t %d\t %d\t %d\t %s\t %s\t\n", row.Fault, row.Acked, row.NotAcked,
		row.Lost, row.Duplicated, row.Reordered, worst, roundDuration(row.Duration))
}

// roundDuration keeps two significant decimals of a second.
func roundDuration(d time.Duration) time.Duration {
	if d >= time.Second {
		return d.Round(10 * time.Millisecond)
	}
	return d.Round(time.Millisecond)
}
