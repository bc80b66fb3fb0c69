// The panel's look: JupyterLab's theme variables (light and dark), with fallbacks for other front ends.
export const CSS = `
.patchlens [hidden] { display: none !important; }
.patchlens { font: var(--jp-ui-font-size1, 13px) var(--jp-ui-font-family, system-ui, sans-serif);
  color: var(--jp-ui-font-color1, CanvasText); background: var(--jp-layout-color1, Canvas); padding: 6px 0; }
.patchlens .pl-bar, .patchlens .pl-settings { display: flex; flex-wrap: wrap; gap: 6px 14px; align-items: center; margin-bottom: 6px; }
.patchlens .pl-views { display: inline-flex; border: 1px solid var(--jp-border-color1, #8888); border-radius: 4px; overflow: hidden; }
.patchlens .pl-views button { font: inherit; color: inherit; background: var(--jp-layout-color2, #8881); border: 0;
  padding: 3px 10px; cursor: pointer; }
.patchlens .pl-views button + button { border-left: 1px solid var(--jp-border-color1, #8888); }
.patchlens .pl-views button[aria-pressed="true"] { background: var(--jp-brand-color1, #1976d2); color: var(--jp-ui-inverse-font-color1, #fff); }
.patchlens .pl-views button:disabled { opacity: .45; cursor: default; }
.patchlens label { display: inline-flex; gap: 4px; align-items: center; }
.patchlens input, .patchlens select { font: inherit; color: var(--jp-ui-font-color1, inherit);
  background: var(--jp-input-background, var(--jp-layout-color1, Field)); border: 1px solid var(--jp-border-color1, #8888);
  border-radius: 3px; padding: 1px 3px; }
.patchlens input[type="number"] { width: 5em; }
.patchlens .pl-panels { display: flex; flex-wrap: wrap; gap: 16px; align-items: flex-start; }
.patchlens .pl-panel { margin: 0; max-width: 100%; }
.patchlens .pl-title { font-weight: 600; margin-bottom: 4px; display: flex; gap: 10px; align-items: center; flex-wrap: wrap; }
.patchlens .pl-stage { position: relative; overflow: auto; max-width: 100%; }
.patchlens canvas { display: block; image-rendering: pixelated; max-width: none; cursor: crosshair; }
.patchlens .pl-mark { position: absolute; pointer-events: none; outline: 2px solid var(--jp-brand-color1, #1976d2); }
.patchlens .pl-inspector { min-height: 1.4em; margin: 4px 0 0; font-variant-numeric: tabular-nums; }
.patchlens .pl-status, .patchlens .pl-note { margin: 2px 0; color: var(--jp-ui-font-color2, GrayText); }
.patchlens .pl-error { margin: 4px 0; color: var(--jp-error-color1, #d32f2f); }
.patchlens .pl-error:empty, .patchlens .pl-note:empty { display: none; }
.patchlens button.pl-png { font: inherit; color: inherit; background: var(--jp-layout-color2, #8881);
  border: 1px solid var(--jp-border-color1, #8888); border-radius: 3px; padding: 1px 8px; cursor: pointer; }
`;
