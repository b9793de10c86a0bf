/**
 * jupyterlab-autograder: the autograder kit inside JupyterLab.
 *
 * 1. A "Check" button in every notebook's toolbar: saves the notebook (through the server's contents
 *    manager, as Ctrl+S does), then asks the kit's server extension (POST autograder/check) to grade the
 *    saved file with the course's hidden checks, and shows the table it returns. The grading runs in the
 *    kit's jail and judge, never in the notebook's kernel, and never blocks the Jupyter server.
 * 2. A comm target "autograder" on every notebook's kernel: `%autograde` in the kernel sends
 *    {op: "save", path} before it grades, and the notebook is saved, so that the grade is of what the
 *    student sees (the kernel waits for the file to change on disk; it never needs an answer).
 */
import { JupyterFrontEnd, JupyterFrontEndPlugin } from '@jupyterlab/application';
import { Dialog, ToolbarButton } from '@jupyterlab/apputils';
import { PathExt, URLExt } from '@jupyterlab/coreutils';
import { DocumentRegistry } from '@jupyterlab/docregistry';
import { INotebookModel, NotebookPanel } from '@jupyterlab/notebook';
import { Kernel, KernelMessage, ServerConnection } from '@jupyterlab/services';
import { DisposableDelegate, IDisposable } from '@lumino/disposable';
import { Widget } from '@lumino/widgets';

/** The kernel-side `%autograde` opens a comm to this target (autograder/jupyter/magic.py). */
const COMM_TARGET = 'autograder';
/** The server extension's endpoint (autograder/jupyter/serverext.py), under the server's base URL. */
const ENDPOINT = 'autograder/check';

/** What the endpoint answers: the same table as `%autograde`, as HTML and as text. */
interface ICheckReply {
  ok: boolean;
  html?: string;
  text?: string;
  score?: number;
  max_score?: number;
  status?: string;
  error?: string;
}

/** POST the notebook's path; always resolves to a reply (a failure becomes `ok: false` and words). */
export async function requestCheck(path: string): Promise<ICheckReply> {
  const settings = ServerConnection.makeSettings();
  const url = URLExt.join(settings.baseUrl, ENDPOINT);
  let response: Response;
  try {
    response = await ServerConnection.makeRequest(
      url,
      { method: 'POST', body: JSON.stringify({ path }) },
      settings
    );
  } catch (err) {
    return { ok: false, error: `could not reach the Jupyter server: ${String(err)}` };
  }
  if (response.status === 404) {
    return {
      ok: false,
      error:
        'the autograder server extension is not enabled in this Jupyter server ' +
        '(install the autograder kit in the environment that runs JupyterLab, then restart it)'
    };
  }
  try {
    return (await response.json()) as ICheckReply;
  } catch {
    return { ok: false, error: `the Jupyter server answered ${response.status} ${response.statusText}` };
  }
}

function htmlBody(html: string): Widget {
  const body = new Widget();
  body.addClass('jp-autograder-result');
  // The server builds this HTML itself and escapes every text that came from the notebook or a check.
  body.node.innerHTML = html;
  return body;
}

function textBody(text: string): Widget {
  const body = new Widget();
  const pre = document.createElement('pre');
  pre.textContent = text;
  body.node.appendChild(pre);
  return body;
}

function showResult(title: string, body: Widget): void {
  const dialog = new Dialog({ title, body, buttons: [Dialog.okButton({ label: 'Close' })] });
  dialog.addClass('jp-autograder-dialog');
  void dialog.launch().finally(() => dialog.dispose());
}

async function checkNotebook(panel: NotebookPanel, button: ToolbarButton): Promise<void> {
  if (!button.enabled) {
    return; // a check of this notebook is already under way
  }
  const title = `${PathExt.basename(panel.context.localPath)}: hidden checks`;
  button.enabled = false;
  let reply: ICheckReply;
  try {
    await panel.context.save();
    reply = await requestCheck(panel.context.path);
  } catch (err) {
    reply = { ok: false, error: `the notebook could not be saved: ${String(err)}` };
  } finally {
    button.enabled = true;
  }
  showResult(title, reply.ok && reply.html ? htmlBody(reply.html) : textBody(`Not graded: ${reply.error || reply.text}`));
}

/** Save the panel's notebook when its kernel's `%autograde` asks (and the path is this notebook's). */
function listenForSave(panel: NotebookPanel): void {
  const onOpen = (comm: Kernel.IComm, msg: KernelMessage.ICommOpenMsg): void => {
    const data = (msg.content.data || {}) as { op?: string; path?: string };
    const mine = panel.context.localPath;
    const path = data.path || '';
    if (data.op === 'save' && (path === mine || path.endsWith('/' + mine))) {
      void panel.context.save();
    }
  };
  const register = (kernel: Kernel.IKernelConnection | null | undefined): void => {
    kernel?.registerCommTarget(COMM_TARGET, onOpen); // replaces any earlier registration of this panel
  };
  register(panel.sessionContext.session?.kernel);
  panel.sessionContext.kernelChanged.connect((_, change) => register(change.newValue));
}

class CheckButton implements DocumentRegistry.IWidgetExtension<NotebookPanel, INotebookModel> {
  createNew(panel: NotebookPanel): IDisposable {
    const button: ToolbarButton = new ToolbarButton({
      className: 'jp-autograder-check',
      label: 'Check',
      tooltip: "Save, then grade this notebook with the course's hidden checks (run apart from its kernel)",
      onClick: () => void checkNotebook(panel, button)
    });
    panel.toolbar.insertItem(10, 'autograder-check', button);
    listenForSave(panel);
    return new DisposableDelegate(() => button.dispose());
  }
}

const plugin: JupyterFrontEndPlugin<void> = {
  id: 'jupyterlab-autograder:plugin',
  description: "A Check button: the course's hidden checks on the open notebook",
  autoStart: true,
  activate: (app: JupyterFrontEnd) => {
    app.docRegistry.addWidgetExtension('Notebook', new CheckButton());
  }
};

export default plugin;
