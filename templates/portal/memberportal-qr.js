// Personal pages: each <canvas data-qr> becomes a QR code of the address the build wrote into
// it (the page's own), drawn here rather than by the build, where encoding one took a fifth of
// a page's time; its section, hidden in the HTML, shows once the code is drawn.
import { correction, generate } from "./lean-qr.js";

for (const canvas of document.querySelectorAll("canvas[data-qr]")) {
  generate(canvas.dataset.qr, { minCorrectionLevel: correction.M })
    .toCanvas(canvas, { on: [0, 0, 0], off: [255, 255, 255] });  // quiet zone: 4 modules
  canvas.closest("[hidden]")?.removeAttribute("hidden");
}
