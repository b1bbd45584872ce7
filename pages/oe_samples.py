import streamlit as st
st.title('oe_samples')
st.info('coming soon')
