import {
  DEFAULT_BOX,
  linePath,
  niceMax,
  seriesMax,
  stack,
  stackedAreaPaths,
  ticks,
  type Box,
} from './geometry';

export interface Series {
  name: string;
  color: string;
  values: readonly (number | null)[];
}

interface ChartProps {
  title: string;
  series: Series[];
  /** Labels for the first and last sample (e.g. clock times). */
  xLabels?: [string, string];
  format?: (v: number) => string;
  /** Fixed top of the y axis (e.g. 1 for ratios); otherwise rounded up from the data. */
  max?: number;
  box?: Box;
}

function Axes({
  box,
  max,
  format,
  xLabels,
}: {
  box: Box;
  max: number;
  format: (v: number) => string;
  xLabels?: [string, string];
}) {
  return (
    <g>
      {ticks(max).map((t) => {
        const yPos = box.top + (box.height - box.top - box.bottom) * (1 - t / max);
        return (
          <g key={t}>
            <line className="axis" x1={box.left} x2={box.width - box.right} y1={yPos} y2={yPos} />
            <text className="tick" x={box.left - 6} y={yPos + 3} textAnchor="end">
              {format(t)}
            </text>
          </g>
        );
      })}
      {xLabels && (
        <>
          <text className="tick" x={box.left} y={box.height - 4}>
            {xLabels[0]}
          </text>
          <text className="tick" x={box.width - box.right} y={box.height - 4} textAnchor="end">
            {xLabels[1]}
          </text>
        </>
      )}
    </g>
  );
}

function Legend({ series }: { series: Series[] }) {
  return (
    <div className="legend">
      {series.map((s) => (
        <span key={s.name}>
          <i style={{ background: s.color }} />
          {s.name}
        </span>
      ))}
    </div>
  );
}

const plain = (v: number) => (Number.isInteger(v) ? String(v) : v.toFixed(1));

/** One or more lines over time; gaps where a sample is missing. */
export function LineChart({ title, series, xLabels, format = plain, max, box = DEFAULT_BOX }: ChartProps) {
  const top = max ?? niceMax(seriesMax(series.map((s) => s.values)));
  return (
    <figure style={{ margin: 0 }}>
      <svg className="chart" viewBox={`0 0 ${box.width} ${box.height}`} role="img" aria-label={title}>
        <Axes box={box} max={top} format={format} xLabels={xLabels} />
        {series.map((s) => (
          <path
            key={s.name}
            d={linePath(s.values, top, box)}
            fill="none"
            stroke={s.color}
            strokeWidth={2}
            strokeLinejoin="round"
            data-series={s.name}
          />
        ))}
      </svg>
      <Legend series={series} />
    </figure>
  );
}

/** Layers stacked bottom-up (first series at the bottom), e.g. packets via mux under packets direct. */
export function StackedAreaChart({
  title,
  series,
  xLabels,
  format = plain,
  max,
  box = DEFAULT_BOX,
}: ChartProps) {
  const totals = stack(series.map((s) => s.values)).at(-1) ?? [];
  const top = max ?? niceMax(seriesMax([totals]));
  const paths = stackedAreaPaths(
    series.map((s) => s.values),
    top,
    box,
  );
  return (
    <figure style={{ margin: 0 }}>
      <svg className="chart" viewBox={`0 0 ${box.width} ${box.height}`} role="img" aria-label={title}>
        <Axes box={box} max={top} format={format} xLabels={xLabels} />
        {series.map((s, i) => (
          <path
            key={s.name}
            d={paths[i]}
            fill={s.color}
            fillOpacity={0.55}
            stroke={s.color}
            data-series={s.name}
          />
        ))}
      </svg>
      <Legend series={series} />
    </figure>
  );
}
