# 明白 (mingbai) — one command each: set up, run, test, benchmark.
SHELL := /bin/bash
APP := .venv-app/bin

.PHONY: setup run run-scale test test-fast lint-imports bench doctor clean-data

setup:            ## 安装两个运行环境、生成向量模型、建知识库、训练 Rasa
	bash scripts/setup.sh

run:              ## 启动 Rasa(5005)、动作服务器(5055)、网页(8000)
	$(APP)/mingbai run

run-scale:        ## scale 配置: 2 个网页进程 + 2 个 Rasa，用本机 PostgreSQL / Redis / RabbitMQ
	DATABASE_URL=$${DATABASE_URL:-postgresql://root@127.0.0.1:5432/mingbai} \
	REDIS_URL=$${REDIS_URL:-redis://127.0.0.1:6379/0} \
	AMQP_URL=$${AMQP_URL:-amqp://guest:guest@127.0.0.1:5672/%2F} \
	$(APP)/mingbai run --profile scale

test:             ## 全部测试 (pytest; 0 tests collected counts as failure)
	bash scripts/test.sh

test-fast:        ## 不需要任何服务：跳过 Rasa、浏览器、PostgreSQL/Redis/RabbitMQ 测试
	bash scripts/test.sh -m "not (rasa or browser or services)"

lint-imports:     ## 检查各部分之间的导入约定 (.importlinter)
	$(APP)/lint-imports

bench:            ## 基准测试, 结果写入 docs/BENCHMARKS.md
	OMP_NUM_THREADS=1 $(APP)/python bench/run_all.py

doctor:
	$(APP)/mingbai doctor
