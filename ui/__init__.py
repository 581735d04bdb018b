"""The Gradio chat page of 报纸档案问答."""
