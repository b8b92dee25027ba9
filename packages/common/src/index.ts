export { EXIT, readableUsageError, runCommandLine } from './run-command-line.js';
export { flushAndExit } from './exit.js';
export { seededNormal, seededRandom } from './rng.js';
export { describeSqliteKind, identifySqliteFile, sqliteKindMismatch, type SqliteFileKind } from './sqlite-kind.js';
export { matrixFigure, escapeXml, FIGURE_FONT, type AxisSpan, type ColourBar, type MatrixFigureOptions, type MatrixGeometry, type Rgb } from './matrix-figure.js';
export { plural } from './text.js';
export { replaceAtomic, tempPathFor, writeAtomic } from './write-atomic.js';
export { progress, type ProgressBar, type ProgressOptions, type ProgressPayload } from './progress.js';
export { peakRssMiB } from './peak-rss.js';
