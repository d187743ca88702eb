//! Golden tests on the Dockerfiles of the user's guide
//! (`/work/shared/seeds/000_f1bc0ef0048b9828.txt`), copied verbatim — including the
//! guide's own mistakes, which must fail (or parse) exactly as Docker does.

use berth_build::evolve::{StageState, Step};
use berth_build::frontend::{BuildOptions, BuildPlan};
use berth_build::instructions::{parse_dockerfile, Instruction};

/// Metadata history of the single stage, with RUN/COPY/ADD shown by their step kind.
fn dispatch_all(text: &str, opts: &BuildOptions) -> (StageState, Vec<String>) {
    let mut plan = BuildPlan::new("Dockerfile", text, opts).unwrap();
    let i = plan.target;
    let (mut st, _) = plan.begin_stage(i, None);
    let mut out = Vec::new();
    for c in plan.dockerfile.stages[i].commands.clone() {
        out.push(match st.dispatch(&c).unwrap() {
            Step::Commit { created_by } | Step::Workdir { created_by, .. } => created_by,
            Step::Run(r) => format!("RUN {:?}", r.argv),
            Step::Copy(c) => format!("{} {:?} -> {}", c.keyword, c.sources, c.dest),
        });
    }
    plan.finish_stage(&st);
    (st, out)
}

const PYTHON_EXAMPLE: &str = r#"FROM python:3.7.2-alpine3.8
LABEL maintainer="jeffmshale@gmail.com"
ENV ADMIN="jeff"

RUN apk update && apk upgrade && apk add bash # форма оболочки

COPY . ./app

ADD https://raw.githubusercontent.com/discdiver/pachy-vid/master/sample_vids/vid1.mp4 \
/my_app_directory

RUN ["mkdir", "/a_directory"] # JSON-форма

CMD ["python", "./my_script.py"]
"#;

#[test]
fn guide_python_example() {
    let d = parse_dockerfile("Dockerfile", PYTHON_EXAMPLE).unwrap();
    assert_eq!(d.stages.len(), 1);
    assert_eq!(d.stages[0].base_name, "python:3.7.2-alpine3.8");
    let lines: Vec<usize> = d.stages[0]
        .commands
        .iter()
        .map(|c| c.location.line)
        .collect();
    assert_eq!(lines, vec![2, 3, 5, 7, 9, 12, 14]);
    let (st, steps) = dispatch_all(PYTHON_EXAMPLE, &BuildOptions::default());
    assert_eq!(
        steps,
        vec![
            "/bin/sh -c #(nop)  LABEL maintainer=jeffmshale@gmail.com".to_string(),
            "/bin/sh -c #(nop)  ENV ADMIN=jeff".into(),
            "RUN [\"/bin/sh\", \"-c\", \"apk update && apk upgrade && apk add bash # форма оболочки\"]".into(),
            "COPY [\".\"] -> /app".into(),
            "ADD [\"https://raw.githubusercontent.com/discdiver/pachy-vid/master/sample_vids/vid1.mp4\"] -> /my_app_directory".into(),
            // Not valid JSON because of the trailing comment: Docker runs it as shell form.
            "RUN [\"/bin/sh\", \"-c\", \"[\\\"mkdir\\\", \\\"/a_directory\\\"] # JSON-форма\"]".into(),
            "/bin/sh -c #(nop)  CMD [\"python\" \"./my_script.py\"]".into(),
        ]
    );
    assert_eq!(
        st.config.cmd,
        Some(vec!["python".to_string(), "./my_script.py".to_string()])
    );
}

const COWSAY: &str = r#"FROM debian:wheezy
MAINTAINER John Smith <john@smith.com>
RUN apt-get update && apt-get install -y cowsay fortune
COPY entrypoint.sh /
ENTRYPOINT ["/entrypoint.sh"]
"#;

#[test]
fn guide_cowsay_entrypoint() {
    let base = berth_oci::ImageConfig {
        config: Some(berth_oci::RunConfig {
            cmd: Some(vec!["bash".into()]),
            ..Default::default()
        }),
        ..Default::default()
    };
    let plan = BuildPlan::new("Dockerfile", COWSAY, &BuildOptions::default()).unwrap();
    let (mut st, _) = plan.begin_stage(0, Some(&base));
    let mut hist = Vec::new();
    for c in &plan.dockerfile.stages[0].commands {
        if let Step::Commit { created_by } = st.dispatch(c).unwrap() {
            hist.push(created_by);
        }
    }
    assert_eq!(
        hist,
        vec![
            "/bin/sh -c #(nop)  MAINTAINER John Smith <john@smith.com>",
            "/bin/sh -c #(nop)  ENTRYPOINT [\"/entrypoint.sh\"]"
        ]
    );
    assert_eq!(st.author.as_deref(), Some("John Smith <john@smith.com>"));
    // ENTRYPOINT resets debian's inherited CMD: `docker run cowsay` runs the script
    // with no arguments, `docker run cowsay Hello` passes "Hello".
    assert_eq!(st.config.cmd, None);
    assert_eq!(
        st.config.entrypoint,
        Some(vec!["/entrypoint.sh".to_string()])
    );
}

const IDENTIDOCK: &str = r#"FROM python:3.5

RUN groupadd -r uwsgi && useradd -r -g uwsgi uwsgi
RUN pip install Flask==1.1.1 gunicorn==20.0.0 requests==2.22.0 redis==3.5.0
WORKDIR /app
COPY app /app
COPY cmd.sh /

EXPOSE 9090 9191
USER uwsgi

CMD ["/cmd.sh"]
"#;

#[test]
fn guide_identidock() {
    let (st, steps) = dispatch_all(IDENTIDOCK, &BuildOptions::default());
    assert_eq!(steps.len(), 8);
    assert_eq!(steps[2], "/bin/sh -c #(nop) WORKDIR /app");
    assert_eq!(steps[3], "COPY [\"app\"] -> /app");
    assert_eq!(steps[4], "COPY [\"cmd.sh\"] -> /");
    assert_eq!(steps[5], "/bin/sh -c #(nop)  EXPOSE 9090 9191");
    let ports: Vec<&String> = st.config.exposed_ports.as_ref().unwrap().keys().collect();
    assert_eq!(ports, vec!["9090/tcp", "9191/tcp"]);
    assert_eq!(st.config.user.as_deref(), Some("uwsgi"));
    assert_eq!(st.config.working_dir.as_deref(), Some("/app"));
}

/// The guide's multi-stage example exactly as printed: Docker rejects it twice over.
const MULTISTAGE_AS_PRINTED: &str = r#"# Stage 1: Builder/Compiler
FROM python:3.7-slim as builder # builder -- это имя этапа
RUN apt update && \
    apt install --no-install-recommends -y \
    build-essential gcc
COPY req.txt /req.txt

# флаг --user очень важен! без него не работает 'COPY --from' с указанными ниже путями
RUN pip install --no-cache-dir --user -r /req.txt

# Stage 2: Runtime
FROM debian:buster-slim
RUN apt update && \
    apt install --no-install-recommends -y \
    build-essential python3 && \
    apt clean && rm -rf /var/lib/apt/lists/*

COPY --from=builder /root/.local/lib/python3.7/site-packages /usr/local/lib/python3.7/dist-
    packages
COPY ./src /src
CMD ["python3", "/src/app.py"]
EXPOSE 8080
"#;

#[test]
fn guide_multistage_as_printed_fails_like_docker() {
    let e = parse_dockerfile("Dockerfile", MULTISTAGE_AS_PRINTED).unwrap_err();
    assert_eq!(e.message, "FROM requires either one or three arguments");
    assert_eq!((e.location.line, e.location.column), (2, 1));
    assert_eq!(
        e.to_string(),
        "Dockerfile:2:1: FROM requires either one or three arguments"
    );
    // With the comment moved off the FROM line, the next problem is the wrapped path.
    let fixed = MULTISTAGE_AS_PRINTED.replace(" # builder -- это имя этапа", "");
    let e = parse_dockerfile("Dockerfile", &fixed).unwrap_err();
    assert_eq!(e.message, "unknown instruction: packages");
    assert_eq!(e.location.line, 19);
    assert_eq!(e.location.column, 5);
}

#[test]
fn guide_multistage_builder_pattern() {
    let fixed = MULTISTAGE_AS_PRINTED
        .replace(" # builder -- это имя этапа", "")
        .replace("dist-\n    packages", "dist-packages");
    let plan = BuildPlan::new("Dockerfile", &fixed, &BuildOptions::default()).unwrap();
    assert_eq!(plan.dockerfile.stages[0].name.as_deref(), Some("builder"));
    assert_eq!(plan.waves, vec![vec![0], vec![1]]);
    let runtime = &plan.dockerfile.stages[1];
    let Instruction::Copy(c) = &runtime.commands[1].instruction else {
        panic!("not a COPY")
    };
    assert_eq!(c.from, "builder");
    assert_eq!(c.sources.dest, "/usr/local/lib/python3.7/dist-packages");
    // Continuation lines joined: the RUN is one command.
    let Instruction::Run(r) = &runtime.commands[0].instruction else {
        panic!("not a RUN")
    };
    assert_eq!(
        r.cmdline.args[0],
        "apt update &&     apt install --no-install-recommends -y     build-essential python3 &&     apt clean && rm -rf /var/lib/apt/lists/*"
    );
    let opts = BuildOptions {
        target: Some("builder".into()),
        ..Default::default()
    };
    let plan = BuildPlan::new("Dockerfile", &fixed, &opts).unwrap();
    assert_eq!(plan.waves, vec![vec![0]]);
}

#[test]
fn guide_arg_to_env_and_entrypoint_comment() {
    // The guide's ARG → ENV example, with its trailing comment (which Docker reads as
    // more ARG names) and a --build-arg override.
    let text = "FROM scratch\n# переменная buildtime_variable со значением по умолчанию\nARG buildtime_variable=default_value # существует только для передачи значения в переменную окружения\nENV env_var_name=$buildtime_variable\n";
    let (st, _) = dispatch_all(text, &BuildOptions::default());
    assert!(st
        .config
        .env
        .as_ref()
        .unwrap()
        .contains(&"env_var_name=default_value".to_string()));
    let mut opts = BuildOptions::default();
    opts.build_args
        .insert("buildtime_variable".into(), Some("a_value".into()));
    let (st, _) = dispatch_all(text, &opts);
    assert!(st
        .config
        .env
        .as_ref()
        .unwrap()
        .contains(&"env_var_name=a_value".to_string()));
    // `ENTRYPOINT [...] # comment` is not JSON: shell form.
    let text = "FROM scratch\nARG my_var=my_default_value\nENTRYPOINT [\"python\", \"./app/my_script.py\", \"my_var\"] # будет прочитано значение my_var\n";
    let (st, _) = dispatch_all(text, &BuildOptions::default());
    let ep = st.config.entrypoint.unwrap();
    assert_eq!(ep[..2], ["/bin/sh".to_string(), "-c".to_string()]);
    assert!(ep[2].starts_with("[\"python\""));
}
