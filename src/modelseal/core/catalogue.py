"""The catalogue of rule ids. Ids are a contract: SARIF, policies and waivers refer to them.

Add rules freely; never rename or reuse one. ``docs/rules.md`` is generated from this table. Findings are made
through :func:`modelseal.core.rules.make_finding`, which loads this module with the first finding, so that a
scan that finds nothing does not build the table.
"""

from __future__ import annotations

from dataclasses import dataclass

from modelseal.core.findings import Severity


@dataclass(frozen=True)
class Rule:
    """One rule: its stable id, what it means, its default severity and how to remedy it."""

    id: str
    title: str
    severity: Severity
    """The usual severity; a scanner may raise or lower it for one finding and says why in the message."""
    description: str
    remediation: str


def _rules(*rules: Rule) -> dict[str, Rule]:
    return {r.id: r for r in rules}


_REVIEW = (
    "Do not load this file. Obtain the model from its original publisher or in a safe format (safetensors)."
)

RULES: dict[str, Rule] = _rules(
    Rule(
        "MS-PICKLE-DANGEROUS-CALLABLE",
        "Known-dangerous callable in pickle",
        Severity.CRITICAL,
        "The pickle imports a callable that runs processes or code, reaches the file system or network, "
        "walks attributes, or unpickles further data. Loading the file would run it.",
        _REVIEW,
    ),
    Rule(
        "MS-PICKLE-UNKNOWN-CALLABLE",
        "Callable not on the allowlist",
        Severity.HIGH,
        "The pickle imports a callable that legitimate ML files do not need. modelseal decides by "
        "allowlist, so anything unknown is reported rather than trusted.",
        "If this is your own class, add it to `allow` in `[tool.modelseal]`; otherwise treat the file as untrusted.",
    ),
    Rule(
        "MS-PICKLE-NESTED-PICKLE",
        "Pickle hidden inside the pickle",
        Severity.HIGH,
        "A byte string inside the pickle is itself a pickle (or a checkpoint) that a loader would unpickle.",
        _REVIEW,
    ),
    Rule(
        "MS-PICKLE-MUTATES-GLOBAL",
        "Pickle mutates an imported object",
        Severity.HIGH,
        "BUILD, APPEND or SETITEMS is applied to an imported module-level object instead of a fresh instance, "
        "which lets a pickle rewrite library state (a known gadget technique).",
        _REVIEW,
    ),
    Rule(
        "MS-PICKLE-UNRESOLVED-EXT",
        "Pickle uses an extension-registry code",
        Severity.HIGH,
        "EXT1/EXT2/EXT4 name callables through copyreg's process-wide registry, which cannot be resolved "
        "statically; no ML library writes them.",
        _REVIEW,
    ),
    Rule(
        "MS-PICKLE-CALL-ON-OBJECT",
        "Pickle calls a constructed object",
        Severity.HIGH,
        "REDUCE or NEWOBJ is applied to something that is not an imported callable (a call result or a literal): "
        "a way to reach callables without naming them.",
        _REVIEW,
    ),
    Rule(
        "MS-PICKLE-MALFORMED",
        "Unparseable pickle stream",
        Severity.HIGH,
        "The stream cannot be parsed to its end (unknown opcode, truncated payload, inconsistent stack). "
        "A loader may still execute the part before the damage, so this is never a pass.",
        _REVIEW,
    ),
    Rule(
        "MS-PICKLE-TRAILING-DATA",
        "Data after the last pickle",
        Severity.LOW,
        "Bytes follow the final STOP opcode and are not a pickle; loaders ignore them, tools may not.",
        "Inspect what the trailing bytes are; a clean export has none.",
    ),
    Rule(
        "MS-LIMIT-EXCEEDED",
        "Resource limit exceeded",
        Severity.HIGH,
        "The input goes past a configured bound (nesting, members, memo, stack, size, time). The part beyond "
        "the bound was not analysed.",
        "Raise the limit in `[tool.modelseal.limits]` if the input is trusted.",
    ),
    Rule(
        "MS-ARCHIVE-BOMB",
        "Decompression bomb",
        Severity.HIGH,
        "A member decompresses to far more than its stored size.",
        _REVIEW,
    ),
    Rule(
        "MS-FILE-UNREADABLE",
        "File cannot be read",
        Severity.HIGH,
        "The file could not be opened or read, so it was not analysed.",
        "Check permissions and retry.",
    ),
    Rule(
        "MS-FILE-LINK-ESCAPE",
        "Link points outside the model",
        Severity.HIGH,
        "A symbolic link (or archive link member) resolves outside the model folder; following it would read "
        "or overwrite unrelated files.",
        "Replace the link with the file it should contain.",
    ),
    Rule(
        "MS-FORMAT-UNKNOWN",
        "Unknown binary format",
        Severity.HIGH,
        "The content matches no format modelseal knows nor any inert one (text, images, audio, documents), so "
        "it could not be shown to be safe; a loader may still read it in a way the scanner does not.",
        "Remove the file from the model, or convert it to a known format.",
    ),
    Rule(
        "MS-FORMAT-NOT-ANALYSED",
        "Format recognised but not analysed",
        Severity.HIGH,
        "The format was recognised but the parser it needs is not installed, so the content was not checked.",
        "Install the extra named in the message, then scan again.",
    ),
    Rule(
        "MS-FORMAT-EXTENSION-MISMATCH",
        "Content does not match the file name",
        Severity.MEDIUM,
        "The file's extension promises one format while its content is another, a trick to slip executable "
        "formats past tools that trust extensions.",
        "Rename the file to match its content, or remove it.",
    ),
    Rule(
        "MS-POLYGLOT",
        "File is two formats at once",
        Severity.HIGH,
        "The file parses as more than one format (a pickle in front of a zip, say); different loaders see "
        "different content.",
        _REVIEW,
    ),
    Rule(
        "MS-ZIP-PATH-TRAVERSAL",
        "Archive member escapes its folder",
        Severity.HIGH,
        "A member name is absolute or contains '..'; extracting it writes outside the target folder.",
        _REVIEW,
    ),
    Rule(
        "MS-ZIP-DUPLICATE-NAME",
        "Duplicate archive member",
        Severity.HIGH,
        "Two members share a name; different readers pick different ones.",
        _REVIEW,
    ),
    Rule(
        "MS-ZIP-HEADER-MISMATCH",
        "Zip local and central headers disagree",
        Severity.HIGH,
        "A member's local header names or sizes differ from the central directory; readers disagree on content.",
        _REVIEW,
    ),
    Rule(
        "MS-ARCHIVE-ENCRYPTED",
        "Encrypted archive member",
        Severity.HIGH,
        "An encrypted member cannot be inspected.",
        "Obtain an unencrypted copy and scan it.",
    ),
    Rule(
        "MS-ARCHIVE-MALFORMED",
        "Unparseable archive",
        Severity.HIGH,
        "The archive or compressed stream is damaged or inconsistent and could not be read to its end.",
        _REVIEW,
    ),
    Rule(
        "MS-TORCHSCRIPT-CODE",
        "TorchScript code with side effects",
        Severity.HIGH,
        "A TorchScript code member calls operations that reach files, the network or the interpreter.",
        _REVIEW,
    ),
    Rule(
        "MS-NUMPY-MALFORMED",
        "Unparseable NumPy file",
        Severity.HIGH,
        "The .npy header or data is inconsistent with its declared shape and dtype.",
        _REVIEW,
    ),
    Rule(
        "MS-SCANNER-ERROR",
        "Scanner failed on this input",
        Severity.HIGH,
        "The scanner stopped with an unexpected error, so the content was not fully analysed. "
        "Fail closed: an input that breaks a scanner is not a pass.",
        "Report the file's shape (not its content) to the modelseal maintainers; treat it as untrusted.",
    ),
    Rule(
        "MS-NUMPY-OBJECT-ARRAY",
        "NumPy object array",
        Severity.LOW,
        "The array has object dtype: loading it needs allow_pickle=True and unpickles its content "
        "(which modelseal scanned).",
        "Prefer numeric dtypes; object arrays are pickles.",
    ),
    # --- integrity (issue 4): lockfile, signatures, Hugging Face cache -------------------------------------
    Rule(
        "MS-LOCK-MISMATCH",
        "Model differs from its lockfile entry",
        Severity.HIGH,
        "A file changed, appeared or vanished, a symlink left the model or cache, or the revision, repo id "
        "or signer differs from what modelseal.lock pins: same name and version, other content.",
        "Find out why the content changed; run `modelseal lock` again only once the new content is trusted.",
    ),
    Rule(
        "MS-SIGNATURE-INVALID",
        "Model signature does not verify",
        Severity.HIGH,
        "The signature is malformed, made by another key or identity, or the model no longer matches the "
        "files it signs.",
        "Obtain the model and its signature again from the publisher, or re-sign it.",
    ),
    Rule(
        "MS-HF-CACHE-MISMATCH",
        "Hugging Face cache blob does not match its name",
        Severity.HIGH,
        "Cache blobs are named by their digest (SHA-256 for LFS files, git SHA-1 otherwise); this one's "
        "content hashes to something else, so the cached file was altered after download.",
        "Delete the cached revision and download it again.",
    ),
    # --- provenance (issue 5): model card consistency and look-alike names -------------------------------
    Rule(
        "MS-CARD-MISSING",
        "No model card",
        Severity.MEDIUM,
        "The model has no README.md card, so its licence, training data and lineage are undeclared.",
        "Ask the publisher for a model card, or record the missing facts in your own registry entry.",
    ),
    Rule(
        "MS-CARD-EMPTY",
        "Model card declares nothing",
        Severity.MEDIUM,
        "The card has no YAML front matter (or an empty one): licence, datasets and base model are "
        "not machine-readable.",
        "Prefer models whose card declares licence, datasets and base model.",
    ),
    Rule(
        "MS-CARD-MALFORMED",
        "Model card metadata cannot be parsed",
        Severity.MEDIUM,
        "The card's YAML front matter is invalid, unterminated, not a mapping, or over a size or "
        "expansion bound, so its claims cannot be read.",
        "Fix the front matter, or treat the claims as absent.",
    ),
    Rule(
        "MS-CARD-NO-LICENSE",
        "Model card declares no usable licence",
        Severity.LOW,
        "The card names no licence, or says `other` without naming or linking the licence.",
        "Find the licence terms before using the model.",
    ),
    Rule(
        "MS-CARD-LICENSE-MISMATCH",
        "Card licence disagrees with the licence file",
        Severity.MEDIUM,
        "The licence in the card's metadata is not the one whose text ships in the model's LICENSE file.",
        "Establish which terms apply before using the model.",
    ),
    Rule(
        "MS-CARD-ARCHITECTURE-MISMATCH",
        "Declared architecture disagrees with what is observed",
        Severity.MEDIUM,
        "The architecture the card or config.json declares does not match config.json or the tensor names in "
        "the weights: the files may not be the model they claim to be.",
        "Compare the weights with the publisher's original before using them.",
    ),
    Rule(
        "MS-CARD-PARAMETERS-MISMATCH",
        "Declared size disagrees with the weights",
        Severity.MEDIUM,
        "The parameter count claimed by the card or the model's name is far from the count in the weight "
        "headers: the weights may have been swapped or truncated.",
        "Compare the weights with the publisher's original before using them.",
    ),
    Rule(
        "MS-CARD-BASE-MODEL-MISMATCH",
        "Declared base model disagrees with the files",
        Severity.MEDIUM,
        "The base model in the card differs from the one the adapter or config files name, or the files name "
        "a base model the card does not declare: the lineage is not what it says.",
        "Establish the real base model; its licence and risks carry over.",
    ),
    Rule(
        "MS-CARD-UNVERIFIABLE",
        "Card claim could not be checked",
        Severity.LOW,
        "A file needed to check the card's claims (config.json, a weight header) could not be parsed "
        "within bounds, so the claim stays unverified.",
        "Inspect the file; a clean export parses.",
    ),
    Rule(
        "MS-NAME-INVALID",
        "Not a valid hub id",
        Severity.HIGH,
        "The id has characters a hub id cannot have (hub ids are ASCII letters, digits, '-', '_' and '.'); "
        "Unicode look-alike letters are a way to make a name that reads like another.",
        "Retype the id from the publisher's page.",
    ),
    Rule(
        "MS-NAME-LOOKALIKE",
        "Name is a near miss of a well-known model",
        Severity.MEDIUM,
        "The id is not a listed model but is a near miss of one (look-alike characters, doubled, dropped or "
        "swapped characters, keyboard slips, separator or order changes, added or dropped suffixes).",
        "Check the spelling against the publisher's page; add genuine new ids to `known_models`.",
    ),
    Rule(
        "MS-NAME-ORG-IMPERSONATION",
        "Organisation imitates a well-known one",
        Severity.HIGH,
        "The id's organisation is not a listed publisher but is a near miss of one, or one with a suffix or "
        "prefix added: the way typosquats and impersonators name themselves.",
        "Use the publisher's own organisation; add a genuine organisation to `publishers` in your config.",
    ),
    Rule(
        "MS-NAME-REUSED",
        "Well-known model name under an unrelated publisher",
        Severity.MEDIUM,
        "The id reuses the name of a well-known model under a publisher that is not its author.",
        "Prefer the original publisher's copy, or confirm the lineage of this one.",
    ),
    Rule(
        "MS-NAME-INTERNAL-COLLISION",
        "Public id collides with an internal name",
        Severity.HIGH,
        "The id is outside your internal namespaces but its name matches, or nearly matches, a name declared "
        "internal: the model-hub form of dependency confusion.",
        "Load internal models by their full internal id from your own registry only.",
    ),
    # --- runtime guard and sandbox (issue 8) ------------------------------------------------------------
    Rule(
        "MS-GUARD-NOT-SCANNED",
        "Loader input could not be scanned",
        Severity.HIGH,
        "The guard could not scan what a loader was about to read (scanner missing, unresolvable hub id, "
        "unreadable input), so it cannot be shown to be safe.",
        "Download the model and load it from a local path, or scan it with `modelseal scan` first.",
    ),
    Rule(
        "MS-GUARD-PICKLE-GLOBAL",
        "Unpickler imported a global outside the allowlist",
        Severity.CRITICAL,
        "The audit hook saw an unpickler in this process import a callable that is not on the allowlist, "
        "whichever loader reached it; importing it is the step before running it.",
        "If the class is your own, pass it in `guard(allow=[...])`; otherwise do not load the data.",
    ),
    Rule(
        "MS-DYNAMIC-PROCESS",
        "Loading tried to start a process",
        Severity.CRITICAL,
        "While the model loaded in the sandbox, code tried to start a program, fork, or spawn a shell.",
        _REVIEW,
    ),
    Rule(
        "MS-DYNAMIC-NETWORK",
        "Loading tried to use the network",
        Severity.CRITICAL,
        "While the model loaded in the sandbox, code tried to resolve a name, open an internet socket or "
        "connect somewhere.",
        _REVIEW,
    ),
    Rule(
        "MS-DYNAMIC-FILE-WRITE",
        "Loading tried to write or delete files",
        Severity.HIGH,
        "While the model loaded in the sandbox, code opened a file for writing, or renamed or removed one.",
        _REVIEW,
    ),
    Rule(
        "MS-DYNAMIC-IMPORT",
        "Loading imported a sensitive module",
        Severity.MEDIUM,
        "While the model loaded in the sandbox, a module that reaches processes, the network, native code "
        "or the interpreter was imported for the first time.",
        _REVIEW,
    ),
    Rule(
        "MS-DYNAMIC-NATIVE-CODE",
        "Loading tried to run native or compiled code",
        Severity.HIGH,
        "While the model loaded in the sandbox, code loaded a native library through ctypes or executed "
        "code compiled from a string.",
        _REVIEW,
    ),
    Rule(
        "MS-DYNAMIC-RESOURCE",
        "Loading was stopped by a sandbox limit",
        Severity.HIGH,
        "The load ran out of a resource the sandbox bounds (memory, CPU time, processes, file size, the "
        "wall clock) and was stopped; legitimate models of this size should not.",
        "Raise the sandbox limits only if the model is known to need more.",
    ),
    Rule(
        "MS-DYNAMIC-LOAD-FAILED",
        "Model failed to load in the sandbox",
        Severity.MEDIUM,
        "The loader raised or the process died, so the dynamic evidence covers only part of the load.",
        "Check the loader's error in the evidence; a clean model loads.",
    ),
    Rule(
        "MS-DYNAMIC-EVIDENCE-TAMPERED",
        "Dynamic evidence was tampered with",
        Severity.HIGH,
        "The evidence file written inside the sandbox holds lines that are not records, or the recorder "
        "never reported: the loaded code interfered with it.",
        _REVIEW,
    ),
    Rule(
        "MS-SANDBOX-ISOLATION",
        "Isolation level of the sandbox",
        Severity.INFO,
        "The layers the host allowed for the dynamic analysis, and the level they reached.",
        "Run on a host with user namespaces, Landlock and seccomp for strong isolation.",
    ),
    # --- end of runtime guard and sandbox (issue 8) -----------------------------------------------------
    # --- formats and repository (issue 3): keras, savedmodel, onnx, gguf, safetensors, repo, weights ----------
    Rule(
        "MS-KERAS-LAMBDA",
        "Keras Lambda layer with code",
        Severity.CRITICAL,
        "A Keras layer carries Python code (marshalled bytecode or a lambda's source) that Keras runs when the "
        "model is loaded with safe_mode off or by older versions.",
        _REVIEW,
    ),
    Rule(
        "MS-KERAS-CUSTOM-OBJECT",
        "Keras object from outside Keras",
        Severity.HIGH,
        "The model configuration names a class or function from a module outside Keras; loading imports it.",
        "Check that the named module is yours and trusted; otherwise do not load the model.",
    ),
    Rule(
        "MS-KERAS-UNSAFE-CONFIG",
        "Keras configuration disables safety or cannot be read",
        Severity.HIGH,
        "The configuration turns safe_mode off, or is not the JSON Keras expects, so it could not be checked.",
        _REVIEW,
    ),
    Rule(
        "MS-HDF5-EXTERNAL",
        "HDF5 file reaches outside itself",
        Severity.HIGH,
        "An external link or external dataset storage makes readers open other files (possibly absolute paths).",
        _REVIEW,
    ),
    Rule(
        "MS-SAVEDMODEL-DANGEROUS-OP",
        "TensorFlow graph op with side effects",
        Severity.HIGH,
        "The graph holds ops that read or write files, run Python, or reach the network when it executes.",
        _REVIEW,
    ),
    Rule(
        "MS-SAVEDMODEL-MALFORMED",
        "Unparseable TensorFlow protobuf",
        Severity.HIGH,
        "saved_model.pb (or keras_metadata.pb) is not a well-formed protobuf of the expected messages.",
        _REVIEW,
    ),
    Rule(
        "MS-ONNX-CUSTOM-DOMAIN",
        "ONNX operator from a custom domain",
        Severity.HIGH,
        "A node uses an operator domain outside the ONNX standard; running it loads a custom-op library.",
        "Only run the model with the custom-op library from a trusted publisher.",
    ),
    Rule(
        "MS-ONNX-EXTERNAL-DATA",
        "ONNX external data outside the model folder",
        Severity.HIGH,
        "A tensor's external data location is absolute, climbs with '..', or is a link leaving the folder; "
        "loading it reads an unrelated file.",
        _REVIEW,
    ),
    Rule(
        "MS-ONNX-MALFORMED",
        "Inconsistent ONNX model",
        Severity.HIGH,
        "The model cannot be parsed, or a tensor's stored size disagrees with its declared shape and type.",
        _REVIEW,
    ),
    Rule(
        "MS-GGUF-MALFORMED",
        "Malformed GGUF file",
        Severity.HIGH,
        "A GGUF header, metadata value or tensor entry lies outside the file or its declared bounds.",
        _REVIEW,
    ),
    Rule(
        "MS-TEMPLATE-INJECTION",
        "Chat template reaches Python internals",
        Severity.CRITICAL,
        "The Jinja chat template walks object internals (__class__, __globals__, helper globals) to reach "
        "Python; runtimes that render it without a sandbox run code. A lookup whose name is built at render "
        "time (so that it cannot be read from the template) is high.",
        _REVIEW,
    ),
    Rule(
        "MS-TEMPLATE-SUSPICIOUS",
        "Chat template cannot be verified",
        Severity.MEDIUM,
        "The chat template does not parse, or uses constructs (includes, imports) a chat template never needs.",
        "Read the template; replace it with the publisher's original.",
    ),
    Rule(
        "MS-SAFETENSORS-MALFORMED",
        "Malformed safetensors header",
        Severity.HIGH,
        "The header is too large, not JSON, uses unknown dtypes, or its offsets overlap, leave gaps, point "
        "outside the file or disagree with the shapes; readers may disagree on the content.",
        _REVIEW,
    ),
    Rule(
        "MS-REPO-REMOTE-CODE",
        "Model needs trust_remote_code",
        Severity.MEDIUM,
        "config.json or tokenizer_config.json maps classes to Python code (auto_map); loading with "
        "trust_remote_code=True runs it. Code that lives in another repository is not covered by this scan.",
        "Review the referenced code (modelseal scans the .py files in the repo) or use a natively supported "
        "architecture.",
    ),
    Rule(
        "MS-PYCODE-PROCESS",
        "Python code starts processes",
        Severity.HIGH,
        "A .py file in the model repository runs commands or processes (called, or passed on as a value); "
        "critical when it happens at import time, which trust_remote_code triggers on load.",
        _REVIEW,
    ),
    Rule(
        "MS-PYCODE-NETWORK",
        "Python code reaches the network",
        Severity.HIGH,
        "A .py file in the model repository opens sockets or downloads; critical at import time.",
        _REVIEW,
    ),
    Rule(
        "MS-PYCODE-FILESYSTEM",
        "Python code changes files",
        Severity.MEDIUM,
        "A .py file in the model repository deletes, moves or writes files.",
        "Review what it writes and where.",
    ),
    Rule(
        "MS-PYCODE-DYNAMIC-CODE",
        "Python code runs dynamic code",
        Severity.HIGH,
        "A .py file runs code built at run time (exec, eval, compile, runpy, code, ctypes, __import__ of "
        "computed names, computed lookups in module namespaces, marshal/pickle loads); critical at import "
        "time.",
        _REVIEW,
    ),
    Rule(
        "MS-PYCODE-OBFUSCATION",
        "Obfuscated Python code",
        Severity.CRITICAL,
        "A .py file decodes data (base64, hex, zlib, rot13) and executes or imports the result, or hides long "
        "encoded blobs; legitimate model code has no reason to.",
        _REVIEW,
    ),
    Rule(
        "MS-PYCODE-UNPARSEABLE",
        "Python file cannot be parsed",
        Severity.HIGH,
        "A .py file in the repository does not parse, so it could not be analysed.",
        _REVIEW,
    ),
    Rule(
        "MS-TOKENIZER-REWRITE",
        "Tokenizer rewrites text",
        Severity.HIGH,
        "A normalizer or pre-tokenizer replaces words or letters before the model sees them: a malicious "
        "tokenizer controls what the model reads.",
        "Use the tokenizer files of the original publisher.",
    ),
    Rule(
        "MS-TOKENIZER-HIDDEN-TOKEN",
        "Tokenizer hides or disguises tokens",
        Severity.HIGH,
        "An added token is an ordinary word marked special (dropped when decoding), is empty, or contains "
        "invisible or bidirectional-control characters.",
        "Use the tokenizer files of the original publisher.",
    ),
    Rule(
        "MS-TOKENIZER-MALFORMED",
        "Unparseable tokenizer file",
        Severity.HIGH,
        "A tokenizer JSON file (tokenizer.json, tokenizer_config.json, added_tokens.json) cannot be parsed or "
        "exceeds the header limit.",
        _REVIEW,
    ),
    Rule(
        "MS-CONFIG-MALFORMED",
        "Unparseable model configuration file",
        Severity.HIGH,
        "A model's configuration JSON (config.json, generation_config.json, chat_template.json...) cannot be "
        "parsed or exceeds the header limit: the loaders would fail or read it differently.",
        _REVIEW,
    ),
    Rule(
        "MS-REQ-UNPINNED",
        "Unpinned requirement",
        Severity.LOW,
        "A requirement has no exact version, so what gets installed changes over time.",
        "Pin exact versions (name==x.y.z), ideally with hashes.",
    ),
    Rule(
        "MS-REQ-LOOKALIKE",
        "Requirement looks like a popular package",
        Severity.HIGH,
        "A requirement's name is one or two edits away from a well-known package: a typosquatting pattern.",
        "Check the spelling; install the well-known package instead.",
    ),
    Rule(
        "MS-REQ-SOURCE",
        "Requirement from an unusual source",
        Severity.HIGH,
        "A requirement installs from a URL, a VCS or an extra/alternative index, which bypasses the registry "
        "and enables dependency confusion.",
        "Install from the default registry with pinned versions.",
    ),
    Rule(
        "MS-REQ-UNPARSEABLE",
        "Requirement line pip reads otherwise",
        Severity.MEDIUM,
        "A requirements or pyproject.toml entry that pip rejects, reads with options the scanner does not "
        "know, fills from environment variables, or includes from a file missing from the repository: what "
        "pip installs from it could not be verified. A line pip refuses outright is low: pip then installs "
        "nothing from the file.",
        "Rewrite the file with plain pinned requirements (name==x.y.z), ideally with hashes.",
    ),
    Rule(
        "MS-REPO-INSTALL-CODE",
        "Repository holds code that pip or Python runs by itself",
        Severity.HIGH,
        "The repository holds files that run code without being imported by name: .pth files with import "
        "lines and sitecustomize/usercustomize modules (run at interpreter start when the folder is on the "
        "path), setup.py or an in-tree build backend (run by pip install), a top-level __init__.py. A model "
        "repository needs none of them.",
        "Remove the files, or review them as code that runs on install or start-up.",
    ),
    Rule(
        "MS-PYCODE-COMPILED",
        "Compiled Python code that cannot be read",
        Severity.HIGH,
        "A .pyc/.pyo file: bytecode Python may run (without its source, or instead of it), which the "
        "scanner cannot analyse.",
        "Remove compiled files; ship source code only.",
    ),
    Rule(
        "MS-WEIGHTS-NONFINITE",
        "Weights contain NaN or infinity",
        Severity.MEDIUM,
        "A tensor holds NaN or infinite values; a tensor made only of them is structurally broken (high).",
        "Obtain the weights again from the publisher.",
    ),
    Rule(
        "MS-WEIGHTS-OUTLIER",
        "Weights with extreme values",
        Severity.MEDIUM,
        "A tensor holds values far outside what trained weights reach; statistics are evidence, not proof.",
        "Compare with the publisher's weights.",
    ),
    Rule(
        "MS-WEIGHTS-LAYER-ANOMALY",
        "Layer differs from its siblings",
        Severity.MEDIUM,
        "A tensor's distribution differs sharply from the tensors of the same kind in the other layers "
        "(possible tampering or a broken conversion); statistics are evidence, not proof.",
        "Compare with the publisher's weights.",
    ),
    Rule(
        "MS-WEIGHTS-ARCH-MISMATCH",
        "Weights disagree with config.json",
        Severity.HIGH,
        "Tensor names or shapes contradict what config.json declares (layer count, hidden size, vocabulary), "
        "or the shard index names files or tensors that are missing.",
        _REVIEW,
    ),
    # --- end of formats and repository (issue 3) --------------------------------------------------------------
    # --- gate, inventory and re-verification (issue 6) --------------------------------------------------------
    Rule(
        "MS-INVENTORY-UNPINNED-REVISION",
        "Model loaded from the hub without a pinned commit",
        Severity.MEDIUM,
        "Code loads a hub model by id with no revision, or with a branch or tag: what it loads changes when "
        "the repository does, so a verified model can be swapped under it.",
        "Pass `revision=` with the full 40-character commit hash you verified.",
    ),
    Rule(
        "MS-INVENTORY-UNSAFE-LOADER",
        "Model loaded in a way that can run code",
        Severity.HIGH,
        "Code loads a model with a pickle-based loader (pickle, joblib, torch.load without weights_only=True, "
        "numpy with allow_pickle=True, Keras with safe_mode=False, torch.hub): loading a hostile file runs it.",
        "Load safetensors (or pass weights_only=True / keep safe_mode on), and gate the file with modelseal.",
    ),
    Rule(
        "MS-INVENTORY-REMOTE-CODE",
        "Model loading runs code from the hub",
        Severity.HIGH,
        "The load trusts remote code (trust_remote_code=True, torch.hub.load): Python from the model "
        "repository runs in your process.",
        "Pin the revision and review the repository's code, or use a model that needs no custom code.",
    ),
    Rule(
        "MS-INVENTORY-DYNAMIC-SOURCE",
        "Model source computed at run time",
        Severity.LOW,
        "The model id or path is not a literal, so the inventory cannot say which model is loaded.",
        "Load from a constant or a reviewed configuration value so the model can be inventoried.",
    ),
    Rule(
        "MS-REVERIFY-DRIFT",
        "Model file changed since it was last verified",
        Severity.HIGH,
        "A file's digest differs from the one recorded by the previous re-verification run.",
        "Find out who changed the file; restore it from the verified source or re-verify and re-lock it.",
    ),
    # --- end of gate, inventory and re-verification (issue 6) -------------------------------------------------
    # --- behavioural inspection (issue 7): backdoors in models, poison in training data --------------------
    Rule(
        "MS-BEHAVIOR-BACKDOOR",
        "Model behaves as if backdoored",
        Severity.HIGH,
        "Trigger inversion found a small input change that sends inputs of every class to one label, far "
        "smaller than for the other labels: the signature of a planted trigger (BadNets patch, blended "
        "pattern). The message names the suspected target class; the recovered trigger is saved as PNG.",
        "Do not deploy the model. Look at the recovered trigger, retrain from trusted data, or fine-tune "
        "and prune on clean data and inspect again.",
    ),
    Rule(
        "MS-BEHAVIOR-TEXT-TRIGGER",
        "Text model obeys a trigger token",
        Severity.HIGH,
        "Inserting one token into clean sentences flips most of them to one label, far more than any "
        "natural word does.",
        "Do not deploy the model; filter the token at serving time (ONION filter) only as a stopgap.",
    ),
    Rule(
        "MS-BEHAVIOR-POISONED-DATA",
        "Training set contains poisoned samples",
        Severity.HIGH,
        "Samples of a class that the trigger inversion flags form their own cluster in the penultimate "
        "layer, on the side of the recovered trigger: they likely carry the trigger with a changed label.",
        "Remove the listed samples (and their source), retrain, and inspect the new model.",
    ),
    # --- end of behavioural inspection (issue 7) --------------------------------------------------------
    # --- advisories (issue 21): known-bad models, vulnerable loader libraries, hub signals ---------------
    Rule(
        "MS-ADVISORY-MALICIOUS-MODEL",
        "Model named malicious by an advisory",
        Severity.CRITICAL,
        "A file digest or the manifest digest of the model is listed by an advisory in the local cache "
        "that marks it malicious (an OSV id starting with MAL-, or modelseal.malicious set).",
        "Do not load the model. Remove it from every deployment and find out where it came from.",
    ),
    Rule(
        "MS-ADVISORY-MODEL",
        "Model affected by an advisory",
        Severity.HIGH,
        "A file digest or the manifest digest of the model is listed by an advisory in the local cache. "
        "The finding carries the advisory's own severity.",
        "Read the advisory (its id is in the evidence) and move to a revision it does not list.",
    ),
    Rule(
        "MS-ADVISORY-CACHE-AGE",
        "Advisory cache age",
        Severity.INFO,
        "How old the local advisory cache is: a model is checked only against advisories synced so far.",
        "Run `modelseal advisories sync` regularly (for example daily, in CI).",
    ),
    Rule(
        "MS-ADVISORY-CACHE-STALE",
        "Advisory cache is stale",
        Severity.MEDIUM,
        "The local advisory cache was synced longer ago than the allowed age (`[tool.modelseal.advisories] "
        "max-age-days`, 7 by default): advisories published since are not checked.",
        "Run `modelseal advisories sync` with your feeds, then check again.",
    ),
    Rule(
        "MS-ADVISORY-LOADER-VULNERABLE",
        "Model-loading library with a known vulnerability",
        Severity.HIGH,
        "A library that loads or serves models (torch, transformers, keras, onnxruntime...) is installed or "
        "pinned at a version an OSV PyPI advisory lists as affected.",
        "Upgrade the library to a fixed version named in the advisory.",
    ),
    Rule(
        "MS-ADVISORY-LOADER-LINKED",
        "Code relies on a loader protection that is known to be bypassed",
        Severity.CRITICAL,
        "Code loads models with `torch.load(..., weights_only=True)`, and the torch version in use has an "
        "advisory for a `weights_only` bypass: the protection the code relies on does not hold.",
        "Upgrade torch to a fixed version now; until then load only models whose scan is clean.",
    ),
    Rule(
        "MS-ADVISORY-HUB-UNSAFE",
        "Hugging Face flags a file as unsafe",
        Severity.HIGH,
        "The hub's own security scan reports the file as unsafe or suspicious. This is an input, not a "
        "verdict: modelseal's scan of the file decides what it contains.",
        "Read the scan's findings for the file; do not load it unless they are clean and explained.",
    ),
    Rule(
        "MS-ADVISORY-HUB-DIGEST-MISMATCH",
        "Local file differs from the hub's record",
        Severity.CRITICAL,
        "The SHA-256 of the local file differs from the `lfs.sha256` the hub reports for the same path and "
        "revision: the file was changed after it was downloaded, or the download was tampered with.",
        "Delete the local copy, download it again and compare; find out who changed it.",
    ),
    # --- end of advisories (issue 21) ----------------------------------------------------------------------
    # --- run-time defences (issue 20): A/B differential tests, canaries -------------------------------
    Rule(
        "MS-BEHAVIOR-DIFF",
        "Updated model behaves differently from the approved one",
        Severity.HIGH,
        "Compared with the approved model A, the updated model B obeys a trigger that A ignores (a small "
        "input change, or a token or phrase, sends inputs to one class or continuation in B only), or its "
        "confident answers on the probes differ beyond the tolerance: a quietly fine-tuned backdoor, or "
        "other weights served under the same name and version.",
        "Do not roll out B. Look at the trigger images and the named target, and find out where B's "
        "weights came from.",
    ),
    Rule(
        "MS-RUNTIME-CANARY",
        "Served model failed its canary probes",
        Severity.HIGH,
        "Known-answer probes got other answers than the approved model gave, or a trigger candidate "
        "reconstructed by `modelseal inspect` now moves the model to its target.",
        "Take the model out of service and compare it with the approved one (`modelseal diff-behavior`).",
    ),
    # --- end of run-time defences (issue 20) ------------------------------------------------------------
    Rule(
        "MS-PICKLE-UNKNOWN-CLASS",
        "Unknown class rebuilt from state",
        Severity.MEDIUM,
        "The pickle rebuilds an object of a class that is not on the allowlist the default way: the class's "
        "__new__ and then its state assigned (NEWOBJ, copyreg reconstructors, BUILD). No function is called "
        "with chosen arguments; the residual risk is a custom __setstate__ or __new__ of that class.",
        "If the class is yours or your framework's, add it to `allow` in `[tool.modelseal]`; a policy may "
        "raise this rule where untrusted files are loaded.",
    ),
    Rule(
        "MS-PICKLE-EMBEDDED-CODE",
        "Pickle carries Python code",
        Severity.HIGH,
        "The pickle rebuilds functions or classes from code it carries (cloudpickle, dill, code objects): "
        "loading this runs the Python code it contains. Some frameworks export models this way by design.",
        "Load it only from a publisher you trust (a policy may allow this rule for them); otherwise ask for "
        "the model in a format without code (safetensors).",
    ),
    Rule(
        "MS-PICKLE-UNSAFE-STATE",
        "State that corrupts a trusted object's memory",
        Severity.HIGH,
        "An allowlisted class is given a state its __setstate__ trusts without checking, which NumPy never "
        "writes: a dtype whose flags, sizes, alignment, field offsets or subarray disagree with its type, or "
        "an object array filled from a list shorter than the array. Loading it makes NumPy read plain bytes "
        "or memory past a list as object pointers, or write outside an array's memory; the loaders crash, "
        "and an attacker who shapes the bytes can take over the process.",
        _REVIEW,
    ),
    Rule(
        "MS-FILE-NAME-NOT-UTF8",
        "File name is not UTF-8",
        Severity.MEDIUM,
        "The name of a file or archive member is not valid UTF-8. Tools that decode names differently can "
        "disagree about which file is which; reports write such a name with each undecodable byte as \\xNN "
        "(and a backslash as \\\\).",
        "Rename the file with a UTF-8 name.",
    ),
)
