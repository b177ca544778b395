package trainer

import "github.com/envgym/envgym/internal/plot"

// Series is one line of a plot.
type Series = plot.Series

// WritePlot draws series as lines (a learning curve) into a PNG at path
// (plot.Write).
func WritePlot(path, title, xLabel string, series []Series) error {
	return plot.Write(path, title, xLabel, series)
}
